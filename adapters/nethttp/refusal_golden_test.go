package nethttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/adapters/nethttp"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/client"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the code answers")

// refusalsGolden is shared with the TypeScript adapters, which must answer every refusal
// byte for byte as the Go adapters do.
const refusalsGolden = "../../clients/js/test/golden/refusals.json"

// refusalCase is the input a refusal is made from, in a form the TypeScript side can
// reproduce: kind says which path of the adapter answers.
type refusalCase struct {
	Kind     string          `json:"kind"`
	Detail   string          `json:"detail,omitempty"`
	Decision json.RawMessage `json:"decision,omitempty"`
}

// goldenRefusal is one entry of the golden file: a case and the exact answer to it.
type goldenRefusal struct {
	Name    string        `json:"name"`
	Case    refusalCase   `json:"case"`
	Status  int           `json:"status"`
	Headers goldenHeaders `json:"headers"`
	Body    string        `json:"body"`
}

// goldenHeaders are the headers a refusal sets; no other may be set.
type goldenHeaders struct {
	ContentType     string `json:"Content-Type,omitempty"`
	CacheControl    string `json:"Cache-Control,omitempty"`
	WWWAuthenticate string `json:"WWW-Authenticate,omitempty"`
	RetryAfter      string `json:"Retry-After,omitempty"`
}

func headersOf(t *testing.T, h http.Header) goldenHeaders {
	t.Helper()
	g := goldenHeaders{}
	fields := map[string]*string{
		"Content-Type": &g.ContentType, "Cache-Control": &g.CacheControl,
		"Www-Authenticate": &g.WWWAuthenticate, "Retry-After": &g.RetryAfter,
	}
	for name, values := range h {
		f, ok := fields[name]
		if !ok || len(values) != 1 {
			t.Fatalf("header %s: %q: the golden file has no place for it", name, values)
		}
		*f = values[0]
	}
	return g
}

// decisionCase is a denial as the HTTP API returns it.
func decisionCase(decision string) refusalCase {
	return refusalCase{Kind: "decision", Decision: json.RawMessage(decision)}
}

var refusalCases = []struct {
	name string
	c    refusalCase
}{
	{"no bearer token", refusalCase{Kind: "noToken"}},
	{"a bearer that is not a Kavach token", refusalCase{Kind: "notKavachToken"}},
	{"an access token that fails verification", refusalCase{Kind: "accessTokenRejected", Detail: "the token was issued for another resource"}},
	{"TOKEN_INVALID", decisionCase(`{"allowed":false,"code":"TOKEN_INVALID","reason":"the token is not valid","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd4b"}`)},
	{"AGENT_NOT_FOUND", decisionCase(`{"allowed":false,"code":"AGENT_NOT_FOUND","reason":"agent agt_01jz8x0000000000000000000 not found","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd4c"}`)},
	{"AGENT_REVOKED", decisionCase(`{"allowed":false,"code":"AGENT_REVOKED","reason":"agent agt_01jz8x0000000000000000000 is revoked","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd4d"}`)},
	{"AGENT_EXPIRED", decisionCase(`{"allowed":false,"code":"AGENT_EXPIRED","reason":"agent agt_01jz8x0000000000000000000 has expired","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd4e"}`)},
	{"NO_PERMISSION", decisionCase(`{"allowed":false,"code":"NO_PERMISSION","reason":"no permission grants \"delete\" on \"http:repos:42\"","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd4f"}`)},
	{"ARGUMENT_NOT_ALLOWED", decisionCase(`{"allowed":false,"code":"ARGUMENT_NOT_ALLOWED","reason":"an argument does not match the permission's argument patterns","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd50"}`)},
	{"APPROVAL_REQUIRED", decisionCase(`{"allowed":false,"code":"APPROVAL_REQUIRED","reason":"the call needs a human approval","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd51","approvalId":"apr_01jz8x0000000000000000000"}`)},
	{"APPROVAL_REQUIRED through a delegation", decisionCase(`{"allowed":false,"code":"APPROVAL_REQUIRED","reason":"the call needs a human approval","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd52","grant":"perm_01jz8x0000000000000000000","via":["dlg_01jz8x0000000000000000000"],"approvalId":"apr_01jz8x0000000000000000001"}`)},
	{"APPROVAL_DENIED", decisionCase(`{"allowed":false,"code":"APPROVAL_DENIED","reason":"a human denied this call","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd53","approvalId":"apr_01jz8x0000000000000000002"}`)},
	{"RATE_LIMITED, 1m30s", decisionCase(`{"allowed":false,"code":"RATE_LIMITED","reason":"the permission's rate limit is exhausted","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd54","retryAfter":"1m30s"}`)},
	{"RATE_LIMITED, 1.5s rounds up", decisionCase(`{"allowed":false,"code":"RATE_LIMITED","reason":"the permission's rate limit is exhausted","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd55","retryAfter":"1.5s"}`)},
	{"RATE_LIMITED, 250ms rounds up", decisionCase(`{"allowed":false,"code":"RATE_LIMITED","reason":"the permission's rate limit is exhausted","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd56","retryAfter":"250ms"}`)},
	{"OUTSIDE_TIME_WINDOW", decisionCase(`{"allowed":false,"code":"OUTSIDE_TIME_WINDOW","reason":"the call is outside the permission's time windows","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd57"}`)},
	{"IP_NOT_ALLOWED", decisionCase(`{"allowed":false,"code":"IP_NOT_ALLOWED","reason":"client address 192.0.2.7 is not in the permission's IP allowlist","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd58"}`)},
	{"POLICY_DENIED", decisionCase(`{"allowed":false,"code":"POLICY_DENIED","reason":"deploys are frozen","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd59"}`)},
	{"POLICY_NOT_LOADED", decisionCase(`{"allowed":false,"code":"POLICY_NOT_LOADED","reason":"the configured policy bundle is not active yet: ","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd5a"}`)},
	{"ENGINE_ERROR", decisionCase(`{"allowed":false,"code":"ENGINE_ERROR","reason":"internal error: the decision failed closed","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd5b"}`)},
	{"ENGINE_ERROR without an audit id", decisionCase(`{"allowed":false,"code":"ENGINE_ERROR","reason":"internal error: the decision could not be audited and failed closed","auditId":""}`)},
	{"a reason with HTML characters", decisionCase(`{"allowed":false,"code":"POLICY_DENIED","reason":"<script>alert(1)</script> & \"quotes\" 'single'","auditId":"01a2504f-e682-791b-bd1d-0c474b43bd5c"}`)},
	{"a reason with U+2028, U+2029 and non-ASCII", decisionCase("{\"allowed\":false,\"code\":\"NO_PERMISSION\",\"reason\":\"line\\u2028separator\\u2029paragraph, caf\u00e9, \u65e5\u672c, tab\\there, nul\\u0000, \\ud83d\\ude00\",\"auditId\":\"01a2504f-e682-791b-bd1d-0c474b43bd5d\"}")},
	{"Kavach unreachable", refusalCase{Kind: "unreachable"}},
	{"a request that cannot be mapped", refusalCase{Kind: "unmappable", Detail: "resource: must not contain <, > or &"}},
}

// rejectAll is an access token verifier that accepts nothing, saying why.
type rejectAll struct{ why string }

func (v rejectAll) VerifyAccessToken(context.Context, string) (string, error) {
	return "", errors.New(v.why)
}

// refusalFor makes the refusal a case describes through the adapter's own paths. Kavach
// is an HTTP client of a server that is gone, which the cases reaching it expect.
func refusalFor(t *testing.T, c refusalCase, kavach *client.Client) *nethttp.Refusal {
	t.Helper()
	cfg := nethttp.Config{Authorizer: kavach, Logger: slog.New(slog.DiscardHandler)}
	if c.Kind == "accessTokenRejected" {
		cfg.AccessTokens = rejectAll{c.Detail}
	}
	g, err := nethttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := api.AuthorizeRequest{Action: "get", Resource: "http:repos:42"}
	decide := func(token string) *nethttp.Refusal {
		d, refusal := g.Decide(context.Background(), nethttp.Caller{Token: token, RemoteAddr: "192.0.2.7:4711"}, req)
		if refusal == nil {
			t.Fatalf("%s: allowed: %+v", c.Kind, d)
		}
		return refusal
	}
	switch c.Kind {
	case "noToken":
		return decide("")
	case "notKavachToken", "accessTokenRejected":
		return decide("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	case "unreachable":
		return decide("kv_" + strings.Repeat("A", 43))
	case "unmappable":
		return nethttp.Unmappable(&api.Error{Code: api.CodeInvalidInput, Field: "resource", Message: c.Detail})
	case "decision":
		var d api.Decision
		if err := json.Unmarshal(c.Decision, &d); err != nil {
			t.Fatalf("decision %s: %v", c.Decision, err)
		}
		return nethttp.Denied(&d)
	}
	t.Fatalf("unknown case kind %q", c.Kind)
	return nil
}

// renderRefusals answers every case and writes the golden file's text.
func renderRefusals(t *testing.T) []byte {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	kavach, err := client.New(gone.URL, "kva_unused")
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenRefusal
	for _, tc := range refusalCases {
		rec := httptest.NewRecorder()
		refusalFor(t, tc.c, kavach).Write(rec)
		out = append(out, goldenRefusal{Name: tc.name, Case: tc.c, Status: rec.Code, Headers: headersOf(t, rec.Header()), Body: rec.Body.String()})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRefusalsGolden: the refusals the adapters answer are the ones the TypeScript adapters
// are held to. Run with -update after a deliberate change, and commit the file.
func TestRefusalsGolden(t *testing.T) {
	t.Parallel()
	got := renderRefusals(t)
	if *update {
		if err := os.MkdirAll(filepath.Dir(refusalsGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(refusalsGolden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(refusalsGolden)
	if err != nil {
		t.Fatalf("%v (go test ./adapters/nethttp -run Golden -update writes it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(gotLines), len(wantLines)) {
		if gotLines[i] != wantLines[i] {
			t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(-update rewrites it after a deliberate change)", refusalsGolden, i+1, gotLines[i], wantLines[i])
		}
	}
	t.Fatalf("%s differs in length: %d lines, want %d (-update rewrites it after a deliberate change)", refusalsGolden, len(gotLines), len(wantLines))
}
