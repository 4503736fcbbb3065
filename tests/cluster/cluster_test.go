// Package cluster runs several real `kavach serve` processes over one PostgreSQL database
// and an in-process Kafka-protocol broker, as a deployment behind a load balancer would
// run, and checks that they behave as one.
package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/client"
	"github.com/kavachos/kavach-go/store/postgres/pgtest"
)

const (
	auditKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	topic    = "kavach.audit"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kavach-cluster")
	if err != nil {
		panic(err)
	}
	_, file, _, _ := runtime.Caller(0)
	binary = filepath.Join(dir, "kavach")
	build := exec.Command("go", "build", "-o", binary, "./cmd/kavach")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		panic("build kavach: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a database, a broker, a root key and the instances serving them.
type cluster struct {
	t         *testing.T
	database  string
	broker    *kfake.Cluster
	key       string
	instances []*instance
}

type instance struct {
	name string
	url  string
	cmd  *exec.Cmd
	api  *client.Client
}

func newCluster(t *testing.T, n int) *cluster {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	c := &cluster{t: t, database: pgtest.URL(t), broker: broker, key: agent.MintAPIKey()}
	for i := range n {
		c.start(fmt.Sprintf("instance-%c", 'a'+i))
	}
	return c
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start launches one `kavach serve` process and waits until it is ready.
func (c *cluster) start(name string) *instance {
	t := c.t
	addr := freePort(t)
	cmd := exec.Command(binary, "serve", "--listen", addr, "--database", c.database,
		"--kafka-brokers", c.broker.ListenAddrs()[0], "--kafka-topic", topic,
		"--audit-signing-key", auditKey, "--log-level", "warn")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "KAVACH_BOOTSTRAP_ADMIN_KEY="+c.key)
	logs, _ := os.Create(filepath.Join(cmd.Dir, "serve.log"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{name: name, url: "http://" + addr, cmd: cmd}
	t.Cleanup(func() {
		in.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became ready", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	api, err := client.New(in.url, c.key)
	if err != nil {
		t.Fatal(err)
	}
	in.api = api
	c.instances = append(c.instances, in)
	return in
}

// stop ends the process with sig (SIGKILL: it dies with no chance to flush or release).
func (in *instance) stop(sig syscall.Signal) {
	if in.cmd.ProcessState != nil {
		return
	}
	in.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		in.cmd.Process.Kill()
		<-done
	}
}

var ctx = context.Background()
