package service_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/service"
)

// keysDown is a facade whose API keys cannot be looked up: the store is unreachable.
type keysDown struct{ *kavach.Kavach }

func (keysDown) AuthenticateAPIKey(context.Context, string) (api.Actor, error) {
	return api.Actor{}, &api.Error{Code: api.CodeInternal, Message: "internal error", Err: errors.New("database unreachable")}
}

// plainFacade hides the facade's AuthorizeTokenAs, as a facade without it would.
type plainFacade struct{ service.Facade }

// serveFacade serves f on a loopback port until the test ends.
func serveFacade(t *testing.T, f service.Facade) string {
	t.Helper()
	srv, err := service.New(f, service.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// TestAuthZENFailsClosed: a failure on our side answers decision false with ENGINE_ERROR
// for every item the semantic would judge, never an allow and never a 500; bad input is
// still a 400.
func TestAuthZENFailsClosed(t *testing.T) {
	t.Parallel()
	w := newAuthZENWorld(t)
	a := w.agent(t, agent.Permission{Resource: "mcp:github:*", Actions: []string{"read"}})
	subj := `"subject":{"type":"agent","id":"` + a.ID + `"}`
	one := `{` + subj + `,"action":{"name":"read"},"resource":{"type":"mcp:github","id":"repos"}}`
	batch := func(semantic string) string {
		return `{` + subj + `,"action":{"name":"read"},"options":{"evaluations_semantic":"` + semantic + `"},"evaluations":[` +
			`{"resource":{"type":"mcp:github","id":"a"}},{"resource":{"type":"mcp:github","id":"b"}},{"resource":{"type":"mcp:github","id":"c"}}]}`
	}
	url := serveFacade(t, keysDown{w.srv.Kavach})
	if d := send(t, "POST", url+"/access/v1/evaluation", w.keys["app"], one).decision(t); d.Decision || d.Context.Code != api.EngineError {
		t.Fatalf("evaluation with the keys unreachable: %+v", d.Context)
	}
	for semantic, n := range map[string]int{api.ExecuteAll: 3, api.PermitOnFirstPermit: 3, api.DenyOnFirstDeny: 1} {
		got := send(t, "POST", url+"/access/v1/evaluations", w.keys["app"], batch(semantic)).evaluations(t)
		if len(got) != n {
			t.Fatalf("%s: %d answers, want %d", semantic, len(got), n)
		}
		for _, d := range got {
			if d.Decision || d.Context.Code != api.EngineError {
				t.Fatalf("%s: %+v", semantic, d.Context)
			}
		}
	}
	if r := send(t, "POST", url+"/access/v1/evaluation", w.keys["app"], `{"subject":{}}`); r.status != http.StatusBadRequest {
		t.Fatalf("bad input with the keys unreachable: %d", r.status)
	}
	// A facade that cannot check a token against its subject denies agent tokens.
	url = serveFacade(t, plainFacade{w.srv.Kavach})
	if d := send(t, "POST", url+"/access/v1/evaluation", a.Token, one).decision(t); d.Decision || d.Context.Code != api.EngineError {
		t.Fatalf("agent token without AuthorizeTokenAs: %+v", d.Context)
	}
	if d := send(t, "POST", url+"/access/v1/evaluation", w.keys["app"], one).decision(t); !d.Decision {
		t.Fatalf("an API key still works: %+v", d.Context)
	}
}
