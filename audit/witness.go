package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/kavachos/kavach-go/store"
)

// Witness keeps signed checkpoints outside the database. Someone able to rewrite the
// database can delete the newest events together with their checkpoint rows; a checkpoint
// that has also left the database still shows how long the chain was. Publish must be
// safe for concurrent use.
type Witness interface {
	Publish(ctx context.Context, c *store.AuditCheckpoint) error
}

// FileWitness appends every checkpoint to a file as one JSON line (tenantId, seq, hash,
// signedAt, publicKey, signature). The file is opened for each checkpoint, so it may be
// rotated or shipped elsewhere by ordinary tools, and several processes may append to it.
type FileWitness struct {
	path string
	mu   sync.Mutex
}

// NewFileWitness appends to path, creating it with mode 0600 when it does not exist.
func NewFileWitness(path string) *FileWitness { return &FileWitness{path: path} }

// Publish appends c in one write and syncs the file.
func (w *FileWitness) Publish(_ context.Context, c *store.AuditCheckpoint) error {
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit witness %s: %w", w.path, err)
	}
	return nil
}

// Anchors is what a witness says each chain must reach: per tenant, the newest checkpoint
// signed by a trusted key. Lines with a bad signature are problems of their tenant's
// chain; unreadable lines and lines signed by keys not trusted are set aside as warnings.
type Anchors struct {
	newest   map[string]*store.AuditCheckpoint
	problems map[string][]string
	warnings []string
}

// maxWitnessLine bounds one line of a witness; checkpoints take a few hundred bytes.
const maxWitnessLine = 64 << 10

// ReadAnchors reads a witness (one JSON checkpoint per line) and keeps each tenant's
// newest checkpoint whose signature verifies under one of trusted.
func ReadAnchors(r io.Reader, trusted []string) (*Anchors, error) {
	a := &Anchors{newest: map[string]*store.AuditCheckpoint{}, problems: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxWitnessLine)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c store.AuditCheckpoint
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.TenantID == "" || c.Seq < 1 {
			a.warnings = append(a.warnings, fmt.Sprintf("anchor line %d is not a checkpoint; ignored", n))
			continue
		}
		a.add(n, &c, trusted)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the anchor: %w", err)
	}
	return a, nil
}

// LoadAnchors reads the witness file at path.
func LoadAnchors(path string, trusted []string) (*Anchors, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	defer f.Close()
	return ReadAnchors(f, trusted)
}

func (a *Anchors) add(line int, c *store.AuditCheckpoint, trusted []string) {
	if err := checkSignature(c); err != nil {
		a.problems[c.TenantID] = append(a.problems[c.TenantID], fmt.Sprintf("anchor line %d: %v", line, err))
		return
	}
	if !slices.Contains(trusted, c.PublicKey) {
		a.warnings = append(a.warnings, fmt.Sprintf("anchor line %d: the checkpoint of tenant %s at seq %d is signed by key %s, which is not trusted; ignored",
			line, c.TenantID, c.Seq, c.PublicKey))
		return
	}
	old := a.newest[c.TenantID]
	switch {
	case old == nil || c.Seq > old.Seq:
		a.newest[c.TenantID] = c
	case c.Seq == old.Seq && c.Hash != old.Hash:
		a.problems[c.TenantID] = append(a.problems[c.TenantID],
			fmt.Sprintf("anchor line %d: two signed checkpoints of seq %d disagree on its hash", line, c.Seq))
	}
}

// Newest returns the tenant's newest trusted checkpoint, or nil.
func (a *Anchors) Newest(tenantID string) *store.AuditCheckpoint {
	if a == nil {
		return nil
	}
	return a.newest[tenantID]
}

// Problems lists the tenant's checkpoints whose signature does not verify.
func (a *Anchors) Problems(tenantID string) []string {
	if a == nil {
		return nil
	}
	return a.problems[tenantID]
}

// Tenants lists every tenant the witness names, sorted.
func (a *Anchors) Tenants() []string {
	if a == nil {
		return nil
	}
	var out []string
	for t := range a.newest {
		out = append(out, t)
	}
	for t := range a.problems {
		if a.newest[t] == nil {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// Warnings lists lines that were set aside.
func (a *Anchors) Warnings() []string {
	if a == nil {
		return nil
	}
	return a.warnings
}
