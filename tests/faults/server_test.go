package faults

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/client"
)

// Bounds every scenario holds the service to.
const (
	// answerBound is how long after a fault ends (a cut, a restart) the service may take
	// to answer decisions again.
	answerBound = 10 * time.Second
	// stopBound is how long a graceful stop may take.
	stopBound = 30 * time.Second
)

// server is one `kavach serve` process, restartable on the same database and directory.
type server struct {
	t        *testing.T
	name     string
	dir      string // working directory: the signing key, a SQLite file, the log
	database string
	flags    []string
	key      string // the root API key
	url      string
	cmd      *exec.Cmd
	exited   chan struct{}
	api      *client.Client
	conns    *http.Transport // the API client's connections
}

// newServer describes a server; start runs it. Servers sharing a database share dir, so
// that they (and the CLI run there) share the audit signing key.
func newServer(t *testing.T, name, dir, database, key string, flags ...string) *server {
	s := &server{t: t, name: name, dir: dir, database: database, key: key, flags: flags}
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", name, tail(s.logPath(), 40))
		}
	})
	return s
}

func (s *server) logPath() string { return filepath.Join(s.dir, s.name+".log") }

func (s *server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start launches the process and waits until /readyz answers 200.
func (s *server) start() {
	t := s.t
	t.Helper()
	addr := freePort(t)
	args := append([]string{"serve", "--listen", addr, "--database", s.database, "--log-level", "warn"}, s.flags...)
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "KAVACH_BOOTSTRAP_ADMIN_KEY="+s.key, "KAVACH_AUDIT_SIGNING_KEY="+signingKey(t, s.dir))
	logs, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	fmt.Fprintf(logs, "--- %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd, s.exited, s.url = cmd, make(chan struct{}), "http://"+addr
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(s.exited)
	s.conns = http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Timeout: 20 * time.Second, Transport: s.conns}
	if s.api, err = client.New(s.url, s.key, client.WithHTTPClient(hc)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ready(s.url) == http.StatusOK {
			return
		}
		if !s.running() {
			t.Fatalf("%s exited while starting: %v\n%s", s.name, cmd.ProcessState, tail(s.logPath(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 30s", s.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no chance to flush, answer or release anything.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop asks the process to shut down (SIGTERM) and fails the test if it does not exit by
// itself, cleanly, within stopBound.
func (s *server) stop() {
	s.t.Helper()
	if !s.running() {
		return
	}
	// Connections the client dialed and never used would hold up the server's shutdown
	// for 5s (net/http waits that long for a first request on a new connection).
	s.conns.CloseIdleConnections()
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if !s.cmd.ProcessState.Success() {
			s.t.Errorf("%s did not stop cleanly: %v", s.name, s.cmd.ProcessState)
		}
		took := time.Since(start)
		s.t.Logf("%s stopped in %v", s.name, took.Round(time.Millisecond))
		if took > 2*time.Second {
			s.t.Logf("%s log of a slow stop (last lines):\n%s", s.name, tail(s.logPath(), 15))
		}
	case <-time.After(stopBound):
		s.t.Errorf("%s still running %v after SIGTERM; killed", s.name, stopBound)
		s.kill()
	}
}

// probes asks /readyz on a connection of its own each time, so that it leaves no
// connection behind.
var probes = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// ready returns the status /readyz answers, or 0 when nothing answers.
func ready(url string) int {
	resp, err := probes.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// signingKey returns the audit signing key of the servers working in dir, and of the CLI
// run there: given to them as KAVACH_AUDIT_SIGNING_KEY, and kept in dir/kavach-audit.key,
// the file earlier versions read, so that any version under test signs and verifies with it.
func signingKey(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "kavach-audit.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b))
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	key := base64.StdEncoding.EncodeToString(seed)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// cli runs a kavach command on database from dir and returns its standard output.
func cli(t *testing.T, dir, database string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--database", database}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KAVACH_AUDIT_SIGNING_KEY="+signingKey(t, dir))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("kavach %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	return stdout.String(), err
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newKey mints the root API key a test's servers are bootstrapped with.
func newKey() string { return agent.MintAPIKey() }
