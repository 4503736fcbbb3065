package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// runAsCommand set in the environment makes the test binary run the command itself, with
// its own arguments, so that the test starts it as a process the way its users do.
const runAsCommand = "REFGUARD_RUN_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCommand) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// start runs the command with args and returns the address it announced.
func start(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsCommand+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("after an interrupt the command exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the command did not stop on an interrupt")
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(s, "listening http://")
		if !ok || !strings.HasSuffix(addr, "\n") || strings.HasSuffix(addr, ":0\n") {
			t.Fatalf("first line %q, want \"listening http://ADDR\"", s)
		}
		return "http://" + strings.TrimSuffix(addr, "\n")
	case <-time.After(30 * time.Second):
		t.Fatal("the command announced no address")
	}
	return ""
}

// TestAgainstRunningKavach: the command, run as a process against a real server, lets an
// allowed call through to its handler without the credential, refuses the others as the
// adapter does, and believes X-Forwarded-For only from the proxies it is told to trust.
func TestAgainstRunningKavach(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, testserver.Backends[0].New(t), service.Config{})
	root := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(root, api.CreateAgentRequest{OwnerID: "alice", Name: "n", Permissions: []agent.Permission{
		{Resource: "http:repos:{id}", Actions: []string{"get"}, Constraints: &agent.Constraints{ArgumentPatterns: map[string]string{"id": "[0-9]+"}}},
		{Resource: "http:repos:{id}:merge", Actions: []string{"post"}, Constraints: &agent.Constraints{IPAllowlist: []string{"10.0.0.0/8"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	appKey := srv.Key(t, api.Actor{Role: api.RoleApp, TenantID: agent.DefaultTenant})
	base := start(t, "--kavach", srv.URL, "--api-key", appKey, "--listen", "127.0.0.1:0",
		"--trusted-proxy", "127.0.0.0/8", "--trusted-proxy", "::1",
		"--issuer", srv.URL, "--resource", "http://127.0.0.1/api")

	type seen struct {
		Code             string `json:"code"`
		Grant            string `json:"grant"`
		SawAuthorization bool   `json:"sawAuthorization"`
	}
	for _, c := range []struct {
		name, method, path, token, forwardedFor string
		status                                  int
		reason                                  api.DecisionCode
		grant                                   string
	}{
		{"allowed", "GET", "/repos/42", a.Token, "", http.StatusOK, api.Allowed, a.Permissions[0].ID},
		{"an argument outside its pattern", "GET", "/repos/abc", a.Token, "", http.StatusForbidden, api.ArgumentNotAllowed, ""},
		{"inside the allowlist behind a trusted proxy", "POST", "/repos/42/merge", a.Token, "10.1.2.3", http.StatusOK, api.Allowed, a.Permissions[1].ID},
		{"outside the allowlist", "POST", "/repos/42/merge", a.Token, "192.0.2.7", http.StatusForbidden, api.IPNotAllowed, ""},
		{"no token", "GET", "/repos/42", "", "", http.StatusUnauthorized, "", ""},
		{"an access token that fails verification", "GET", "/repos/42", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "", http.StatusUnauthorized, api.TokenInvalid, ""},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", c.forwardedFor)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		if c.status == http.StatusOK {
			var s seen
			if err := json.Unmarshal(body, &s); err != nil || s != (seen{Code: string(c.reason), Grant: c.grant}) {
				t.Errorf("%s: the handler saw %s, want code %s grant %s and no credential", c.name, body, c.reason, c.grant)
			}
			continue
		}
		var p api.Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Reason != string(c.reason) ||
			resp.Header.Get("Content-Type") != api.ProblemContentType {
			t.Errorf("%s: %s %s, want a problem with reason %q", c.name, resp.Header.Get("Content-Type"), body, c.reason)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"--kavach", "http://127.0.0.1:1"},
		{"--kavach", "http://127.0.0.1:1", "--api-key", "kva_x", "--issuer", "http://127.0.0.1:1"},
		{"--kavach", "http://127.0.0.1:1", "--api-key", "kva_x", "extra"},
		{"--kavach", "ftp://x", "--api-key", "kva_x"},
		{"--kavach", "http://127.0.0.1:1", "--api-key", "kva_x", "--trusted-proxy", "not a cidr"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // were it to start anyway, it stops at once
		if err := run(ctx, append(args, "--listen", "127.0.0.1:0"), io.Discard); err == nil {
			t.Errorf("%q: want an error, got %v", args, err)
		}
	}
}
