package service_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// BenchmarkAuthorizeOverHTTP measures POST /v1/authorize end to end on loopback: API key
// authentication, binding, the decision and its audit write, over SQLite.
func BenchmarkAuthorizeOverHTTP(b *testing.B) {
	srv := testserver.Start(b, testserver.Backends[0].New(b), service.Config{})
	ctx := kavach.WithActor(context.Background(), api.Root)
	a, err := srv.Kavach.Agents().Create(ctx, api.CreateAgentRequest{OwnerID: "o", Name: "n",
		Permissions: []agent.Permission{{Resource: "mcp:github:*", Actions: []string{"read"}}}})
	if err != nil {
		b.Fatal(err)
	}
	body := `{"agentId":"` + a.ID + `","action":"read","resource":"mcp:github:repos"}`
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/authorize", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+srv.RootKey)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
