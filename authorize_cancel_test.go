package kavach_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/store"
)

// levelCounter counts log records by level.
type levelCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	msgs   []string
}

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level]++
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelCounter) WithGroup(string) slog.Handler      { return h }

// A caller that cancels its own authorize call gets no allow, but it is not an engine
// failure: nothing is logged at ERROR, the reason says the caller went away, and the
// decision is still audited.
func TestCancelledAuthorizeIsNotLoggedAsAFailure(t *testing.T) {
	t.Parallel()
	logs := &levelCounter{counts: map[slog.Level]int{}}
	k, err := kavach.Open(context.Background(), kavach.Config{Database: "sqlite://" + filepath.Join(t.TempDir(), "kavach.db"),
		Logger: slog.New(logs), Audit: kavach.AuditConfig{Sync: true, SigningKey: testAuditKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	a, err := k.Agents().Create(alice, api.CreateAgentRequest{OwnerID: "alice", Name: "n", Permissions: githubReader()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(alice)
	cancel()
	d, err := k.Authorize(ctx, a.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:github:repos"}, api.CallContext{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.Code != api.EngineError || !strings.Contains(d.Reason, "caller went away") || d.AuditID == "" {
		t.Errorf("got %+v, want an audited denial saying the caller went away", d)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.counts[slog.LevelError] > 0 || logs.counts[slog.LevelInfo] == 0 {
		t.Errorf("logged %v; want the abandoned decision below ERROR", logs.msgs)
	}
	events, err := store.CollectAudit(context.Background(), k.Store(), store.AuditQuery{TenantID: "default", AgentID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	var decisions []string
	for _, e := range events {
		if e.Kind == audit.KindDecision {
			decisions = append(decisions, e.Code)
		}
	}
	if len(decisions) != 1 || decisions[0] != string(api.EngineError) {
		t.Errorf("audited decisions %v, want the denial", decisions)
	}
}
