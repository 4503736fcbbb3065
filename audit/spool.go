package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/kavachos/kavach-go/store"
)

// The spool file holds, one JSON event a line, what a Stop could not commit before its
// deadline (the ledger was unreachable). It is appended to and synced before Stop returns,
// and the next Start commits its events before anything new, then removes it. Arguments
// keep their numbers' exact text, so a spooled event hashes as it would have.

var errNoSpool = errors.New("no spool file is configured")

func writeSpool(path string, events []*store.AuditEvent) error {
	if path == "" {
		return errNoSpool
	}
	return appendLines(path, events)
}

// writeRejected keeps an event the ledger refused (its id is held with other content) in
// the spool's companion file, for an operator to look at; it is never replayed.
func writeRejected(path string, e *store.AuditEvent, log *slog.Logger) {
	if path == "" {
		return
	}
	if err := appendLines(path+".rejected", []*store.AuditEvent{e}); err != nil {
		log.Error("audit: rejected event not kept", "id", e.ID, "error", err)
	}
}

func appendLines(path string, events []*store.AuditEvent) error {
	if err := dropTornLine(path); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			f.Close()
			return fmt.Errorf("audit spool: event %s: %w", e.ID, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("audit spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit spool: %w", err)
	}
	return f.Close()
}

// dropTornLine cuts a last line a crash left unfinished, so that what is appended next
// starts a line of its own.
func dropTornLine(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || len(b) == 0 || b[len(b)-1] == '\n' {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1))
}

// readSpool returns the spooled events (none when there is no file). A torn last line (a
// crash while spooling) is skipped: its events were not yet acknowledged as spooled.
func readSpool(path string) ([]*store.AuditEvent, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit spool: %w", err)
	}
	var out []*store.AuditEvent
	seen := map[string]bool{}
	for line := range bytes.Lines(b) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var e store.AuditEvent
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("audit spool %s: line %d: %w", path, len(out)+1, err)
		}
		if !seen[e.ID] { // one event once, however often it was spooled
			seen[e.ID] = true
			out = append(out, &e)
		}
	}
	return out, nil
}

func removeSpool(path string, log *slog.Logger) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Error("audit: spool file not removed after its events were written", "file", path, "error", err)
	}
}
