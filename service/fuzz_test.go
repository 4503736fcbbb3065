package service_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// fuzzBody sends each fuzzed body to one route of a real service (in-process, over a real
// SQLite database) and checks the answer: never a 5xx, and every failure a problem+json
// document. Seeds live in testdata/fuzz/<name>.
func fuzzBody(f *testing.F, method, path string, success int, seeds ...string) {
	srv := testserver.Start(f, testserver.Backends[0].New(f), service.Config{MaxBodyBytes: 64 << 10})
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "n", Permissions: nil})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(strings.ReplaceAll(s, "AGENT", a.ID))
	}
	h := srv.Service.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+srv.RootKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		case rec.Code == success:
		case rec.Code >= 400:
			if ct := rec.Header().Get("Content-Type"); ct != api.ProblemContentType {
				t.Fatalf("status %d with %q for %q", rec.Code, ct, body)
			}
			if !strings.Contains(rec.Body.String(), `"code":"`) {
				t.Fatalf("a problem without a code: %s", rec.Body)
			}
		default:
			t.Fatalf("unexpected status %d for %q", rec.Code, body)
		}
	})
}

func FuzzAuthorizeDecoder(f *testing.F) {
	fuzzBody(f, http.MethodPost, "/v1/authorize", http.StatusOK,
		`{"agentId":"AGENT","action":"read","resource":"mcp:github:repos"}`,
		`{"agentId":"AGENT","action":"read","resource":"mcp:github:repos","arguments":{"branch":"dev","n":1,"deep":{"a":[1,2]}},"dryRun":true,"context":{"ip":"203.0.113.7","userAgent":"x"}}`,
		`{"agentId":"AGENT","action":"read","resource":"*"}`,
		`{"agentId":"agt_missing","action":"","resource":""}`,
		`{"agentId":"AGENT","action":"read","resource":"a","context":{"ip":"::1%eth0"}}`,
		`{"agentId":1}`, `{"agentId":"AGENT","context":null}`, `[]`, `{`, ``, `{"x":1}`, "\x00",
	)
}

func FuzzCreateAgentDecoder(f *testing.F) {
	fuzzBody(f, http.MethodPost, "/v1/agents", http.StatusCreated,
		`{"ownerId":"o","name":"n","permissions":[{"resource":"mcp:github:*","actions":["read"]}]}`,
		`{"ownerId":"o","name":"n","type":"service","expiresAt":"2099-01-01T00:00:00Z","metadata":{"k":"v"},"permissions":[{"resource":"a:*","actions":["*"],"constraints":{"rateLimit":{"max":3,"window":"1m"},"timeWindows":[{"days":["mon"],"start":"22:00","end":"06:00","timezone":"Europe/Berlin"}],"ipAllowlist":["10.0.0.0/8","::1"],"argumentPatterns":{"b":"dev-.*"},"approval":{"required":true,"ttl":"1h","approvers":["u"]}}}]}`,
		`{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":["b"],"constraints":{"rateLimit":{"max":0,"window":"0s"}}}]}`,
		`{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":["b"],"constraints":{"argumentPatterns":{"x":"("}}}]}`,
		`{"ownerId":"o","name":"n","permissions":[{"resource":"a","actions":["b"],"constraints":{"timeWindows":[{"start":"25:00","end":"x","timezone":"Mars/Olympus"}]}}]}`,
		`{"ownerId":"o","name":"n","expiresAt":"yesterday"}`, `{"name":"\u0000"}`, `{"ownerId":"o","name":"n","id":"agt_x"}`,
		`{"permissions":null}`, `{"permissions":[null]}`, `{"metadata":{"":""}}`,
	)
}
