package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// TestReadmeCurlFlow runs the README's curl commands, as written, against `kavach serve`:
// only the address, the printed key and the created agent's id are filled in.
func TestReadmeCurlFlow(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```sh\nexport KAVACH_API_KEY=")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README's curl example is gone")
	}
	block = "export KAVACH_API_KEY=" + block
	i := strings.LastIndex(block, "curl -s")
	create, authorize := block[:i], block[:strings.Index(block, "curl -s")]+block[i:]

	s := startServe(t, t.TempDir(), nil)
	key := bootstrapKey(t, s.log())
	fill := strings.NewReplacer("http://127.0.0.1:8080", s.url, "kva_…", key)
	sh := func(script string) string {
		out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s\n%s", err, script, out)
		}
		return string(out)
	}
	var created api.AgentWithToken
	if out := sh(fill.Replace(create)); json.Unmarshal([]byte(out), &created) != nil || created.ID == "" || created.Token == "" {
		t.Fatalf("creating the agent answered %s", out)
	}
	var d api.Decision
	out := sh(strings.ReplaceAll(fill.Replace(authorize), "agt_…", created.ID))
	if err := json.Unmarshal([]byte(out), &d); err != nil || !d.Allowed || d.Code != api.Allowed {
		t.Fatalf("authorizing answered %s", out)
	}
	s.stop(t)
}

// TestReadmeCLIBesideServe runs the README's CLI commands, as written, in the directory of
// a running `kavach serve` — the quickstart's order — and checks that they work on the
// server's database, that the CLI says a server uses it, and that the server sees the
// agent the CLI created.
func TestReadmeCLIBesideServe(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, afterServe, ok := strings.Cut(string(readme), "```sh\ngo run ./cmd/kavach serve\n```")
	_, rest, ok2 := strings.Cut(afterServe, "```sh\ngo run ./cmd/kavach agent create")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("the README's CLI commands do not follow `go run ./cmd/kavach serve`")
	}
	var lines []string
	for _, l := range strings.Split("go run ./cmd/kavach agent create"+block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.Replace(l, "go run ./cmd/kavach", binary, 1))
		}
	}
	if len(lines) != 3 || !strings.Contains(lines[1], "agent list") || !strings.Contains(lines[2], "authorize") {
		t.Fatalf("the README's CLI commands changed: %q", lines)
	}

	dir := t.TempDir()
	s := startServe(t, dir, nil)
	key := bootstrapKey(t, s.log())
	sh := func(script string) (stdout, stderr string) {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_API_KEY=", "KAVACH_SERVER=", "KAVACH_CONFIG=")
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v\n%s\n%s%s", err, script, o.String(), e.String())
		}
		return o.String(), e.String()
	}
	if _, stderr := sh(lines[0]); !strings.Contains(stderr, "a running kavach serve") {
		t.Fatalf("creating an agent beside the server does not say so: %q", stderr)
	}
	out, _ := sh(lines[1])
	var list api.AgentList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Agents) != 1 {
		t.Fatalf("listing answered %s", out)
	}
	id := list.Agents[0].ID
	sh(strings.ReplaceAll(lines[2], "agt_…", id))

	if code := call(t, "GET", s.url+"/v1/agents/"+id, key, "", nil); code != http.StatusOK {
		t.Fatalf("the server does not see the CLI's agent: %d", code)
	}
	body := `{"agentId":"` + id + `","action":"read","resource":"mcp:github:repos"}`
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var d api.Decision
		if call(t, "POST", s.url+"/v1/authorize", key, body, &d); d.Allowed {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the server never allowed the CLI's agent: %+v", d)
		}
	}
	s.stop(t)
}
