package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/api"
)

// TestGatewayCommand runs `kavach gateway` on a database in front of a JSON-RPC upstream:
// tools/list is narrowed to the agent's tools, tools/call allowed or denied, and the
// upstream never sees the agent's token.
func TestGatewayCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, errOut, err := kavachCmd(t, dir, "agent", "create", "--owner", "user_1", "--name", "gw",
		"--permission", "mcp:demo:echo=call", "-o", "json")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	var created api.AgentWithToken
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var sawAuth []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		result := map[string]any{"ok": true}
		if m.Method == "tools/list" {
			result = map[string]any{"tools": []map[string]any{{"name": "echo"}, {"name": "rm"}}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
	}))
	t.Cleanup(upstream.Close)

	cmd := exec.Command(binary, "gateway", "--upstream", upstream.URL+"/mcp", "--server", "demo", "--listen", "127.0.0.1:0")
	cmd.Dir = dir
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		at := regexp.MustCompile(` at (http://\S+)$`)
		for sc.Scan() {
			if m := at.FindStringSubmatch(sc.Text()); m != nil {
				started <- m[1]
			}
		}
	}()
	var endpoint string
	select {
	case endpoint = <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("kavach gateway did not start")
	}

	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(created.Token, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); code != 200 ||
		!strings.Contains(body, `"echo"`) || strings.Contains(body, `"rm"`) {
		t.Fatalf("tools/list: %d %s", code, body)
	}
	if code, body := post(created.Token, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("allowed call: %d %s", code, body)
	}
	if code, body := post(created.Token, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm","arguments":{}}}`); code != 200 ||
		!strings.Contains(body, "NO_PERMISSION") || strings.Contains(body, `"ok"`) {
		t.Fatalf("denied call: %d %s", code, body)
	}
	if code, _ := post("", `{"jsonrpc":"2.0","id":4,"method":"tools/list"}`); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sawAuth) != 2 {
		t.Fatalf("the upstream got %d requests, want 2", len(sawAuth))
	}
	for _, a := range sawAuth {
		if a != "" {
			t.Fatalf("the upstream saw Authorization %q", a)
		}
	}
}
