package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// referenceCanonicalEvent is how CanonicalEvent was first written, with encoding/json: every
// chain written since hashes these bytes, so the faster encoder must never differ from it.
func referenceCanonicalEvent(e *AuditEvent) []byte {
	args := json.RawMessage("null")
	if e.ArgumentsJSON != "" {
		args = json.RawMessage(e.ArgumentsJSON)
	}
	via := e.Via
	if via == nil {
		via = []string{}
	}
	b, err := json.Marshal(struct {
		V          int             `json:"v"`
		TenantID   string          `json:"tenantId"`
		Seq        int64           `json:"seq"`
		ID         string          `json:"id"`
		Time       string          `json:"time"`
		Kind       string          `json:"kind"`
		AgentID    string          `json:"agentId"`
		OwnerID    string          `json:"ownerId"`
		Actor      string          `json:"actor"`
		Action     string          `json:"action"`
		Resource   string          `json:"resource"`
		Arguments  json.RawMessage `json:"arguments"`
		Result     string          `json:"result"`
		Code       string          `json:"code"`
		Reason     string          `json:"reason"`
		DurationNS int64           `json:"durationNs"`
		IP         string          `json:"ip"`
		UserAgent  string          `json:"userAgent"`
		Grant      string          `json:"grant"`
		Via        []string        `json:"via"`
		ApprovalID string          `json:"approvalId"`
		Revision   string          `json:"revision"`
	}{
		V: 1, TenantID: e.TenantID, Seq: e.Seq, ID: e.ID,
		Time: e.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		Kind: e.Kind, AgentID: e.AgentID, OwnerID: e.OwnerID, Actor: e.Actor, Action: e.Action,
		Resource: e.Resource, Arguments: args, Result: e.Result, Code: e.Code, Reason: e.Reason,
		DurationNS: e.DurationNS, IP: e.IP, UserAgent: e.UserAgent, Grant: e.Grant, Via: via,
		ApprovalID: e.ApprovalID, Revision: e.Revision,
	})
	if err != nil {
		return []byte("invalid:" + e.ID + ":" + e.ArgumentsJSON)
	}
	return b
}

// Texts that encoding/json writes otherwise than as they are, or that look like it might.
var trickyStrings = []string{"", "plain", "with space", `quote"d`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\r",
	"\x00\x01\x1f\x7f", "é ünïcode 日本", "\u2028\u2029", "en–dash €", "bad\xffutf8\xe2\x80", "/slash/", "a\u007fb"}

var trickyArguments = []string{"", "null", `{}`, `{"i":1}`, `{"a":"b c","n":[1,2.5,-3e10,true,null]}`,
	`{ "spaced" : [ 1 , 2 ] }`, "{\n\t\"x\": \"y\"\r\n}", `{"h":"<script>&</script>"}`, `{"u":"\u2028 \u2029"}`,
	"{\"raw\":\"\u2028\"}", `{"esc":"\"\\\n\u00e9"}`, `{"k":"–"}`, `not json`, `{"a":1`, `{"a":1} {}`, `"str"`, `12`,
	"{\"bad\":\"\xff\"}", `{"a":"\"}`, `[1,2,]`}

func trickyEvent(r *rand.Rand) *AuditEvent {
	pick := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	e := &AuditEvent{TenantID: pick(), Seq: r.Int64N(1 << 40), ID: pick(),
		Time: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("x", 3600*(r.IntN(25)-12))),
		Kind: pick(), AgentID: pick(), OwnerID: pick(), Actor: pick(), Action: pick(), Resource: pick(),
		ArgumentsJSON: trickyArguments[r.IntN(len(trickyArguments))], Result: pick(), Code: pick(), Reason: pick(),
		DurationNS: r.Int64N(1<<50) - 1<<40, IP: pick(), UserAgent: pick(), Grant: pick(), ApprovalID: pick(), Revision: pick()}
	switch r.IntN(3) {
	case 0:
		e.Via = nil
	case 1:
		e.Via = []string{}
	default:
		e.Via = []string{pick(), pick()}
	}
	return e
}

func TestCanonicalEventMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50_000 {
		e := trickyEvent(r)
		if got, want := CanonicalEvent(e), referenceCanonicalEvent(e); !bytes.Equal(got, want) {
			t.Fatalf("event %d: %+v\ngot  %s\nwant %s", i, e, got, want)
		}
	}
}

func FuzzCanonicalEvent(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, trickyArguments[i%len(trickyArguments)], "via")
	}
	for _, a := range trickyArguments {
		f.Add("reason", a, "")
	}
	f.Fuzz(func(t *testing.T, s, args, via string) {
		e := &AuditEvent{TenantID: s, ID: s, Reason: s, Resource: s, ArgumentsJSON: args, Via: []string{via, s}, Time: time.Unix(1, 2)}
		if got, want := CanonicalEvent(e), referenceCanonicalEvent(e); !bytes.Equal(got, want) {
			t.Fatalf("got  %q\nwant %q", got, want)
		}
	})
}

// A chain prepared now hashes as it did: the hash of a fixed event is pinned (computed
// when chains were hashed with encoding/json).
func TestChainHashIsUnchanged(t *testing.T) {
	t.Parallel()
	e := &AuditEvent{TenantID: "default", Seq: 7, ID: "0190f3a2-0000-7000-8000-000000000001",
		Time: time.Date(2026, 12, 7, 15, 4, 5, 123456789, time.UTC), Kind: "decision", AgentID: "agt_1",
		Action: "read", Resource: "mcp:github:repos", ArgumentsJSON: `{"q":"a <b>"}`, Result: "allowed",
		Code: "ALLOWED", DurationNS: 1234, Via: []string{"dlg_1"}}
	const want = "ccc0d8ef53334c6883618b52d117bb8db624563682c484e06df21d4b2fa54945"
	if ref := referenceHash("prev", e); ref != want {
		t.Fatalf("reference hash = %s, want %s", ref, want)
	}
	if got := ChainHash("prev", e); got != want {
		t.Fatalf("ChainHash = %s, want %s", got, want)
	}
	events := []*AuditEvent{e}
	e.Seq = 0
	e.Arguments = map[string]any{"q": "a <b>"}
	if _, head, err := PrepareChain(events, 6, "prev"); err != nil || head != want {
		t.Fatalf("PrepareChain head = %s, %v; want %s", head, err, want)
	}
}

func referenceHash(prev string, e *AuditEvent) string {
	sum := sha256.Sum256(append([]byte(prev+"\n"), referenceCanonicalEvent(e)...))
	return hex.EncodeToString(sum[:])
}
