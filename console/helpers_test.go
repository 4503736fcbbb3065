package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/console"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// quiet drops the console's info logs in tests.
var quiet = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))

// admin is the user the console treats as the tenant's admin.
const admin = "sec-admin"

// start serves the API and the console (dev login on) over a fresh SQLite database.
func start(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.StartWith(t, testserver.Backends[0].New(t), testserver.Options{
		SyncAudit: true,
		Mounts: func(k *kavach.Kavach, _ string) []service.Mount {
			c, err := console.New(console.Config{Kavach: k, DevLogin: true, Admins: []string{admin}, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			return []service.Mount{{Paths: c.Paths(), Handler: c}}
		},
	})
}

// gatedAgent creates an agent of owner whose writes to repos need a human's approval.
func gatedAgent(t *testing.T, s *testserver.Server, owner, name string) *api.AgentWithToken {
	t.Helper()
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := s.Kavach.Agents().Create(ctx, api.CreateAgentRequest{
		TenantID: agent.DefaultTenant, OwnerID: owner, Name: name,
		Permissions: []agent.Permission{
			{Resource: "mcp:github:repos", Actions: []string{"read"}},
			{Resource: "mcp:github:repos", Actions: []string{"write"}, Constraints: &agent.Constraints{
				Approval: &agent.Approval{Required: true, TTL: agent.Duration(time.Hour)},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// call makes the agent's own authorize call over HTTP, as an agent would.
func call(t *testing.T, s *testserver.Server, token string, args map[string]any) api.Decision {
	t.Helper()
	return authorize(t, s, token, api.AuthorizeRequest{Action: "write", Resource: "mcp:github:repos", Arguments: args})
}

func authorize(t *testing.T, s *testserver.Server, token string, ar api.AuthorizeRequest) api.Decision {
	t.Helper()
	body, _ := json.Marshal(ar)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/authorize/token", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d api.Decision
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return d
}

// chromium finds the browser. In CI a missing one fails the test; elsewhere it skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "Chromium not found at /usr/bin/chromium or on PATH; install Debian's chromium package to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium of its own (own cookies) for one console user.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	// The browser lives as long as bctx; the timeout bounds only the test's steps.
	ctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// login logs user in with the dev login form, by keyboard and click as a person would.
func login(t *testing.T, ctx context.Context, s *testserver.Server, user string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(s.URL+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
}

func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// approvalCard selects the card of one approval request.
func approvalCard(id string) chromedp.CSS { return chromedp.CSS(`section[id="` + id + `"]`) }

// css selects by a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }
