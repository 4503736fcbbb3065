package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/kavachos/kavach-go/api"
)

// stdDecode decodes body as bind does with encoding/json.
func stdDecode(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

var decoderSeeds = []string{
	`{"agentId":"agt_1","action":"read","resource":"mcp:github:repos"}`,
	`{"agentId":"agt_1","action":"read","resource":"mcp:github:repos","arguments":{"branch":"dev","n":1,"f":-1.5e3,"deep":{"a":[1,2,{"b":null}],"t":true,"e":[]}},"dryRun":true,"context":{"ip":"203.0.113.7","userAgent":"x"}}`,
	` { "action" : "read" , "resource" : "ä:€" , "dryRun" : false , "context" : { } , "arguments" : { } } `,
	`{"agentId":null,"context":null,"arguments":null,"dryRun":null}`,
	`{}`, `{"action":"read","resource":"a"}`,
	`{"token":"kv_x","action":"read","resource":"a","context":{"ip":"10.0.0.1"}}`,
	`{"Token":"x"}`, `{"token":"a","token":"b"}`, `{"token":1}`, `{"token":"a\u0062"}`,
	`{"AgentId":"x"}`, `{"agentId":"a\"b"}`, `{"agentId":"a","agentId":"b"}`, `{"agentId":1}`, `{"x":1}`,
	`{"arguments":{"a":1,"a":2}}`, `{"arguments":{"n":1e400}}`, `{"arguments":{"n":01}}`, `{"arguments":{"n":-}}`,
	`{"context":{"Time":"2026-01-01T00:00:00Z"}}`, `{"context":{"ip":"1","ip":"2"}}`, "{\"agentId\":\"\xff\"}",
	`{"a":1} x`, `{"agentId":"a"}{}`, `{"dryRun":tru}`, `{"arguments":[1]}`, `{"arguments":{"a":[1,]}}`,
}

// FuzzAuthorizeFastDecoder: whatever the hand decoders accept, encoding/json accepts too,
// with the same result.
func FuzzAuthorizeFastDecoder(f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, std api.AuthorizeAgentRequest
		if decodeAuthorizeAgent(body, &fast) {
			if err := stdDecode(body, &std); err != nil {
				t.Fatalf("%q: accepted by the hand decoder, refused by encoding/json: %v", body, err)
			}
			if !reflect.DeepEqual(fast, std) {
				t.Fatalf("%q: hand decoder %#v, encoding/json %#v", body, fast, std)
			}
		}
		var fastT, stdT api.AuthorizeRequest
		if decodeAuthorize(body, &fastT) {
			if err := stdDecode(body, &stdT); err != nil {
				t.Fatalf("%q: accepted by the hand decoder, refused by encoding/json: %v", body, err)
			}
			if !reflect.DeepEqual(fastT, stdT) {
				t.Fatalf("%q: hand decoder %#v, encoding/json %#v", body, fastT, stdT)
			}
		}
	})
}

// TestFastDecoderTakesPlainBodies: the usual bodies do take the fast path; the rest are
// left to encoding/json.
func TestFastDecoderTakesPlainBodies(t *testing.T) {
	t.Parallel()
	for i, s := range decoderSeeds {
		var r api.AuthorizeAgentRequest
		if got, want := decodeAuthorizeAgent([]byte(s), &r), i < 7; got != want {
			t.Errorf("%s: fast path taken %v, want %v", s, got, want)
		}
	}
}

// FuzzDecisionEncoder: the hand encoder writes a decision exactly as encoding/json's
// Encoder does.
func FuzzDecisionEncoder(f *testing.F) {
	f.Add(true, "ALLOWED", "granted by mcp:github:*", "0193a5f2-7c1e-7b3a-9d2e-4f5a6b7c8d9e", "mcp:github:*", "", "", "")
	f.Add(false, "NO_PERMISSION", "<script>&\"\\\n\t\r\b\f\x00\x1f\u2028\u2029\xff", "", "", "a\u00e9", "b", "apr_1")
	f.Fuzz(func(t *testing.T, allowed bool, code, reason, auditID, grant, via1, via2, approval string) {
		d := &api.Decision{Allowed: allowed, Code: api.DecisionCode(code), Reason: reason, AuditID: auditID,
			Grant: grant, ApprovalID: approval}
		if via1 != "" {
			d.Via = []string{via1, via2}
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(d); err != nil {
			t.Fatal(err)
		}
		if got := appendDecision(nil, d); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("hand encoder %s\nencoding/json %s", got, want.Bytes())
		}
	})
}
