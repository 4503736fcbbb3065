package store

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// An event without a trace id hashes exactly as events always have; one with a trace id
// is the same JSON with "traceId" added last.
func TestCanonicalEventTraceID(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5_000 {
		e := trickyEvent(r)
		want := referenceCanonicalEvent(e)
		if got := CanonicalEvent(e); !bytes.Equal(got, want) {
			t.Fatalf("event %d without a trace id:\ngot  %s\nwant %s", i, got, want)
		}
		e.TraceID = testTraceID
		got := CanonicalEvent(e)
		if bytes.HasPrefix(want, []byte("invalid:")) {
			if !bytes.Equal(got, want) {
				t.Fatalf("event %d with invalid arguments:\ngot  %s\nwant %s", i, got, want)
			}
			continue
		}
		want = append(want[:len(want)-1], `,"traceId":"`+testTraceID+`"}`...)
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d with a trace id:\ngot  %s\nwant %s", i, got, want)
		}
	}
}

// The pinned hash of TestChainHashIsUnchanged holds for an event whose trace id is empty,
// and any trace id changes it.
func TestChainHashCoversTraceID(t *testing.T) {
	t.Parallel()
	e := &AuditEvent{TenantID: "default", Seq: 7, ID: "0190f3a2-0000-7000-8000-000000000001",
		Time: time.Date(2026, 12, 7, 15, 4, 5, 123456789, time.UTC), Kind: "decision", AgentID: "agt_1",
		Action: "read", Resource: "mcp:github:repos", ArgumentsJSON: `{"q":"a <b>"}`, Result: "allowed",
		Code: "ALLOWED", DurationNS: 1234, Via: []string{"dlg_1"}}
	const without = "ccc0d8ef53334c6883618b52d117bb8db624563682c484e06df21d4b2fa54945"
	if got := ChainHash("prev", e); got != without {
		t.Fatalf("ChainHash without a trace id = %s, want %s", got, without)
	}
	e.TraceID = testTraceID
	with := ChainHash("prev", e)
	if with == without {
		t.Fatal("the hash does not cover the trace id")
	}
	e.TraceID = strings.Replace(testTraceID, "4", "5", 1)
	if other := ChainHash("prev", e); other == with || other == without {
		t.Fatal("a different trace id must hash differently")
	}
}

func TestValidTraceID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		testTraceID:                        true,
		"00000000000000000000000000000001": true,
		"":                                 false,
		"00000000000000000000000000000000": false,
		strings.ToUpper(testTraceID):       false,
		testTraceID[:31]:                   false,
		testTraceID + "0":                  false,
		"4bf92f3577b34da6a3ce929d0e0e473g": false,
		"00-" + testTraceID[3:]:            false,
	} {
		if got := ValidTraceID(id); got != want {
			t.Errorf("ValidTraceID(%q) = %v, want %v", id, got, want)
		}
	}
}

// PrepareChain keeps a valid trace id, and drops any other before hashing, so that what
// is stored is what is hashed.
func TestPrepareChainDropsInvalidTraceIDs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)
	events := []*AuditEvent{
		{ID: "a", TenantID: "default", Time: at, TraceID: testTraceID},
		{ID: "b", TenantID: "default", Time: at, TraceID: strings.ToUpper(testTraceID)},
		{ID: "c", TenantID: "default", Time: at, TraceID: "00000000000000000000000000000000"},
		{ID: "d", TenantID: "default", Time: at, TraceID: "not a trace id"},
	}
	if _, _, err := PrepareChain(events, 0, ""); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i, e := range events {
		if want := map[bool]string{true: testTraceID}[i == 0]; e.TraceID != want {
			t.Errorf("event %s keeps trace id %q, want %q", e.ID, e.TraceID, want)
		}
		if e.Hash != ChainHash(prev, e) {
			t.Errorf("event %s: its hash is not that of what is stored", e.ID)
		}
		prev = e.Hash
	}
}
