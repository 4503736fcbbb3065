package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
)

// Format is the audit export format replay reads offline: NDJSON of one tenant whose first
// line is a header, then the tenant's agents and active delegations as they are at export
// time, then its decision events oldest first. Agents carry no secret (tokens are stored
// only as hashes, and the hash is not exported).
const Format = "replay"

// Version is the replay file format's version.
const Version = 1

// Header is a replay file's first line.
type Header struct {
	Version    int       `json:"version"`
	TenantID   string    `json:"tenantId"`
	ExportedAt time.Time `json:"exportedAt"`
}

// line is one line of a replay file: exactly one field is set.
type line struct {
	Header     *Header           `json:"kavachReplay,omitempty"`
	Agent      *agent.Agent      `json:"agent,omitempty"`
	Delegation *agent.Delegation `json:"delegation,omitempty"`
	Event      *store.AuditEvent `json:"event,omitempty"`
}

// Exporter is the part of the store a replay file is written from.
type Exporter interface {
	store.AuditStore
	AllAgents(ctx context.Context, fn func(*agent.Agent) error) error
	AllDelegations(ctx context.Context, fn func(*agent.Delegation) error) error
}

// WriteExport writes q.TenantID's agents, active delegations and the decision events q
// selects (and keep accepts, when set) as a replay file. It returns the events written.
func WriteExport(ctx context.Context, st Exporter, q store.AuditQuery, keep func(*store.AuditEvent) bool, now time.Time, w io.Writer) (int64, error) {
	if q.TenantID == "" {
		return 0, errors.New("replay export: a tenant is required")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(line{Header: &Header{Version: Version, TenantID: q.TenantID, ExportedAt: now.UTC()}}); err != nil {
		return 0, err
	}
	err := st.AllAgents(ctx, func(a *agent.Agent) error {
		if a.TenantID != q.TenantID {
			return nil
		}
		return enc.Encode(line{Agent: a})
	})
	if err == nil {
		err = st.AllDelegations(ctx, func(d *agent.Delegation) error {
			if d.TenantID != q.TenantID {
				return nil
			}
			return enc.Encode(line{Delegation: d})
		})
	}
	if err != nil {
		return 0, fmt.Errorf("replay export: %w", err)
	}
	var n int64
	q.Desc = false
	err = st.StreamAudit(ctx, q, func(e *store.AuditEvent) error {
		if e.Kind != audit.KindDecision || (keep != nil && !keep(e)) {
			return nil
		}
		n++
		return enc.Encode(line{Event: e})
	})
	if err != nil {
		return n, fmt.Errorf("replay export: %w", err)
	}
	return n, bw.Flush()
}

// File is a replay file opened for reading: its header, agents and delegations are read;
// its events stream through Events.
type File struct {
	Header      Header
	Agents      []*agent.Agent
	Delegations []*agent.Delegation
	dec         *json.Decoder
	first       *store.AuditEvent
	line        int
}

// ReadFile reads a replay file's header, agents and delegations.
func ReadFile(r io.Reader) (*File, error) {
	f := &File{dec: json.NewDecoder(bufio.NewReaderSize(r, 64<<10))}
	for {
		l, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch {
		case f.line == 1 && l.Header == nil:
			return nil, errors.New("replay file: line 1 is not a kavachReplay header (export with --format replay)")
		case l.Header != nil:
			if f.line != 1 {
				return nil, fmt.Errorf("replay file: line %d: a second header", f.line)
			}
			if l.Header.Version != Version {
				return nil, fmt.Errorf("replay file: version %d, this kavach reads version %d", l.Header.Version, Version)
			}
			f.Header = *l.Header
		case l.Agent != nil:
			f.Agents = append(f.Agents, l.Agent)
		case l.Delegation != nil:
			f.Delegations = append(f.Delegations, l.Delegation)
		case l.Event != nil:
			f.first = l.Event
			return f, nil
		default:
			return nil, fmt.Errorf("replay file: line %d holds no agent, delegation or event", f.line)
		}
	}
	if f.line == 0 {
		return nil, errors.New("replay file: empty")
	}
	return f, nil
}

func (f *File) next() (line, error) {
	var l line
	if err := f.dec.Decode(&l); err != nil {
		if errors.Is(err, io.EOF) {
			return l, err
		}
		return l, fmt.Errorf("replay file: line %d: %w", f.line+1, err)
	}
	f.line++
	return l, nil
}

// Events streams the file's events; it is a Source, to be used once.
func (f *File) Events(ctx context.Context, fn func(*store.AuditEvent) error) error {
	for e := f.first; e != nil; {
		if err := fn(e); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := f.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Event == nil {
			return fmt.Errorf("replay file: line %d: agents and delegations must come before the events", f.line)
		}
		e = l.Event
	}
	return nil
}

// FromStore is a Source over the ledger: the given tenants' events in seq order, since
// q.Since and within [q.FromSeq, q.ToSeq] when set.
func FromStore(st store.AuditStore, tenants []string, since time.Time, fromSeq, toSeq int64) Source {
	return func(ctx context.Context, fn func(*store.AuditEvent) error) error {
		for _, t := range tenants {
			q := store.AuditQuery{TenantID: t, Since: since}
			if fromSeq > 0 {
				q.AfterSeq = fromSeq - 1
			}
			if toSeq > 0 {
				q.BeforeSeq = toSeq + 1
			}
			if err := st.StreamAudit(ctx, q, fn); err != nil {
				return err
			}
		}
		return nil
	}
}
