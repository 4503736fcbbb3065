package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

func read(resource string) api.AuthorizeRequest {
	return api.AuthorizeRequest{Action: "read", Resource: resource}
}

// TestRevocationReachesEveryInstance revokes agents through A and measures how long B
// takes to refuse them, over HTTP, 100 times.
func TestRevocationReachesEveryInstance(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.instances[0].api, c.instances[1].api
	trials := 100
	if testing.Short() {
		trials = 10
	}
	var waits []time.Duration
	for range trials {
		x, err := a.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{{Resource: "mcp:*", Actions: []string{"read"}}}})
		if err != nil {
			t.Fatal(err)
		}
		for d, _ := b.Authorize(ctx, x.ID, read("mcp:x:y"), api.CallContext{}); !d.Allowed; d, _ = b.Authorize(ctx, x.ID, read("mcp:x:y"), api.CallContext{}) {
			time.Sleep(time.Millisecond)
		}
		if _, err := a.Agents().Revoke(ctx, x.ID); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			d, err := b.Authorize(ctx, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:x:y", DryRun: true}, api.CallContext{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Code == api.AgentRevoked {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatal("B never refused an agent revoked through A")
			}
			time.Sleep(200 * time.Microsecond)
		}
		waits = append(waits, time.Since(start))
	}
	slices.Sort(waits)
	t.Logf("revocation through A refused by B after: p50 %v, p99 %v, max %v (%d trials)",
		waits[len(waits)/2], waits[len(waits)*99/100], waits[len(waits)-1], len(waits))
}

// TestLimitsHoldAcrossProcesses: 10 calls a minute across two processes hammered at once,
// and a one-use approval used once in total.
func TestLimitsHoldAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	a, b := c.instances[0].api, c.instances[1].api
	x, err := a.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{
		{Resource: "mcp:*", Actions: []string{"read"}, Constraints: &agent.Constraints{RateLimit: &agent.RateLimit{Max: 10, Window: agent.Duration(time.Minute)}}},
		{Resource: "mcp:*", Actions: []string{"push"}, Constraints: &agent.Constraints{Approval: &agent.Approval{Required: true}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for d, _ := b.Authorize(ctx, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:x", DryRun: true}, api.CallContext{}); !d.Allowed; d, _ = b.Authorize(ctx, x.ID, api.AuthorizeRequest{Action: "read", Resource: "mcp:x", DryRun: true}, api.CallContext{}) {
		time.Sleep(time.Millisecond)
	}
	count := func(req api.AuthorizeRequest, n int) int {
		var mu sync.Mutex
		allowed := 0
		var wg sync.WaitGroup
		for i := range n {
			k := a
			if i%2 == 1 {
				k = b
			}
			wg.Go(func() {
				d, err := k.Authorize(ctx, x.ID, req, api.CallContext{})
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return allowed
	}
	if n := count(read("mcp:x"), 60); n != 10 {
		t.Fatalf("two processes admitted %d calls under a limit of 10 a minute", n)
	}
	push := api.AuthorizeRequest{Action: "push", Resource: "mcp:x"}
	d, err := a.Authorize(ctx, x.ID, push, api.CallContext{})
	if err != nil || d.ApprovalID == "" {
		t.Fatalf("gated call: %+v %v", d, err)
	}
	if _, err := b.Approvals().Approve(ctx, d.ApprovalID, api.ApproveRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := count(push, 10); n != 1 {
		t.Fatalf("a one-use approval was used %d times across two processes", n)
	}
}

func leading(t *testing.T, in *instance) bool {
	resp, err := http.Get(in.url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "kavach_audit_relay_leading 1")
}

// TestRelayLeaderKilledMidStream: decisions flow through two instances while the one whose
// relay holds the lease is killed (SIGKILL: no flush, no release). The other takes over,
// and the topic ends with every event in the ledger, exactly once after de-duplication;
// the chain verifies with a gap-free seq.
func TestRelayLeaderKilledMidStream(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	var leader, other *instance
	deadline := time.Now().Add(20 * time.Second)
	for leader == nil {
		for i, in := range c.instances {
			if leading(t, in) {
				leader, other = in, c.instances[1-i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no relay took the lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	x, err := other.api.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "x", Permissions: []agent.Permission{{Resource: "mcp:*", Actions: []string{"read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(in *instance, n int) {
		for i := range n {
			in.api.Authorize(ctx, x.ID, read("mcp:x:"+string(rune('a'+i%26))), api.CallContext{})
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { decide(leader, 400) })
	wg.Go(func() { decide(other, 800) })
	time.Sleep(100 * time.Millisecond)
	leader.stop(syscall.SIGKILL)
	wg.Wait()

	for !leading(t, other) {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatal("the surviving relay never took over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The survivor's audit pipeline may still be writing its last events: read the ledger
	// until verification and the export agree.
	var report *api.AuditReport
	ledger := map[string]bool{}
	for attempt := 0; ; attempt++ {
		if report, err = other.api.Audit().Verify(ctx, ""); err != nil || !report.OK {
			t.Fatalf("verify after the leader died: %+v %v", report, err)
		}
		var export bytes.Buffer
		if err := other.api.Audit().Export(ctx, api.AuditQuery{}, "ndjson", &export); err != nil {
			t.Fatal(err)
		}
		ledger = map[string]bool{}
		sc := bufio.NewScanner(&export)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e agent.AuditEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			ledger[e.ID] = true
		}
		if int64(len(ledger)) == report.Checked {
			break
		}
		if attempt == 50 {
			t.Fatalf("export has %d events, verify checked %d", len(ledger), report.Checked)
		}
		time.Sleep(50 * time.Millisecond)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.broker.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	onTopic := map[string]int{}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for missing(ledger, onTopic) > 0 {
		fetches := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("%d of %d ledger events never reached the topic", missing(ledger, onTopic), len(ledger))
		}
		fetches.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "kavach-event-id" {
					onTopic[string(h.Value)]++
				}
			}
		})
	}
	// The survivor may have recorded and published more since the ledger was read: every
	// event on the topic must be in the ledger as it is now.
	var final bytes.Buffer
	if err := other.api.Audit().Export(ctx, api.AuditQuery{}, "ndjson", &final); err != nil {
		t.Fatal(err)
	}
	now := map[string]bool{}
	for _, line := range bytes.Split(final.Bytes(), []byte("\n")) {
		var e agent.AuditEvent
		if json.Unmarshal(line, &e) == nil {
			now[e.ID] = true
		}
	}
	for id := range onTopic {
		if !now[id] {
			t.Fatalf("event %s is on the topic but not in the ledger", id)
		}
	}
	t.Logf("%d events in the ledger, all on the topic (%d distinct ids)", len(ledger), len(onTopic))
}

func missing(ledger map[string]bool, onTopic map[string]int) int {
	n := 0
	for id := range ledger {
		if onTopic[id] == 0 {
			n++
		}
	}
	return n
}
