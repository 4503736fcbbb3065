package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// served is a `kavach serve` process.
type served struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr strings.Builder
	done   chan error
}

// startServe runs the built binary as `kavach serve` on a free loopback port and waits
// until it logs where it listens.
func startServe(t *testing.T, dir string, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_BOOTSTRAP_ADMIN_KEY=", "KAVACH_CONFIG="), env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1)}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.stderr.WriteString(line + "\n")
			s.mu.Unlock()
			var entry struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "listening" {
				listening <- entry.URL
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case s.url = <-listening:
	case err := <-s.done:
		t.Fatalf("kavach serve exited: %v\n%s", err, s.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("kavach serve did not start:\n%s", s.log())
	}
	return s
}

func (s *served) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and expects a clean exit after draining.
func (s *served) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("kavach serve exited with %v:\n%s", err, s.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("kavach serve did not stop on SIGTERM:\n%s", s.log())
	}
}

// call makes one request with a bearer credential and decodes the JSON answer into out.
func call(t *testing.T, method, url, bearer, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// roundTrip creates an agent with key and authorizes it by id and by its own token.
func roundTrip(t *testing.T, url, key string) {
	t.Helper()
	if code := call(t, "GET", url+"/healthz", "", "", nil); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if code := call(t, "GET", url+"/readyz", "", "", nil); code != http.StatusOK {
		t.Fatalf("readyz: %d", code)
	}
	var created api.AgentWithToken
	if code := call(t, "POST", url+"/v1/agents", key,
		`{"ownerId":"user_1","name":"reviewer","permissions":[{"resource":"mcp:github:*","actions":["read"]}]}`, &created); code != http.StatusCreated {
		t.Fatalf("create agent: %d", code)
	}
	for _, c := range []struct{ path, bearer, body string }{
		{"/v1/authorize", key, `{"agentId":"` + created.ID + `","action":"read","resource":"mcp:github:repos"}`},
		{"/v1/authorize/token", created.Token, `{"action":"read","resource":"mcp:github:repos"}`},
	} {
		var d api.Decision
		if code := call(t, "POST", url+c.path, c.bearer, c.body, &d); code != http.StatusOK || !d.Allowed || d.Code != api.Allowed || d.AuditID == "" {
			t.Fatalf("%s: %d %+v", c.path, code, d)
		}
	}
}

var bootstrapLine = "admin API key: "

// bootstrapKey returns the key printed on stderr, failing unless it appears exactly once.
func bootstrapKey(t *testing.T, log string) string {
	t.Helper()
	if n := strings.Count(log, bootstrapLine); n != 1 {
		t.Fatalf("the bootstrap key is printed %d times:\n%s", n, log)
	}
	i := strings.Index(log, bootstrapLine) + len(bootstrapLine)
	key, _, _ := strings.Cut(log[i:], "\n")
	if !agent.WellFormedAPIKey(key) {
		t.Fatalf("printed key %q is not an API key", key)
	}
	return key
}

func TestServeAnswersAndBootstrapsOnce(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		dir := t.TempDir()
		args := []string{"--database", b.New(t), "--audit-signing-key", testserver.AuditKey}
		first := startServe(t, dir, nil, args...)
		key := bootstrapKey(t, first.log())
		roundTrip(t, first.url, key)
		first.stop(t)
		if !strings.Contains(first.log(), "draining") {
			t.Errorf("shutdown is not logged:\n%s", first.log())
		}

		// A restart prints nothing: the database has its key, which still works.
		second := startServe(t, dir, nil, args...)
		if strings.Contains(second.log(), bootstrapLine) {
			t.Fatalf("a second start printed a key:\n%s", second.log())
		}
		if code := call(t, "GET", second.url+"/v1/agents", key, "", nil); code != http.StatusOK {
			t.Fatalf("the bootstrap key after a restart: %d", code)
		}
		second.stop(t)
	})
}

func TestServeDefaultsToKavachDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	roundTrip(t, s.url, bootstrapKey(t, s.log()))
	s.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "kavach.db")); err != nil {
		t.Fatalf("kavach serve must use kavach.db in the working directory: %v", err)
	}
}

func TestServeBootstrapKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	supplied := agent.MintAPIKey()
	s := startServe(t, t.TempDir(), []string{"KAVACH_BOOTSTRAP_ADMIN_KEY=" + supplied})
	if strings.Contains(s.log(), bootstrapLine) || strings.Contains(s.log(), supplied) {
		t.Fatalf("a supplied key is never printed:\n%s", s.log())
	}
	roundTrip(t, s.url, supplied)
	s.stop(t)

	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "KAVACH_DATABASE=", "KAVACH_BOOTSTRAP_ADMIN_KEY=kva_not-a-key")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "KAVACH_BOOTSTRAP_ADMIN_KEY") {
		t.Fatalf("a malformed supplied key must stop the start: %v\n%s", err, out)
	}
}
