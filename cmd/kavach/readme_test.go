package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

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
