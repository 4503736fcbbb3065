package client_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/apitest"
	"github.com/kavachos/kavach-go/internal/testserver"
	"github.com/kavachos/kavach-go/service"
)

// overHTTP runs the API suite through the client against the real server: each caller is
// an API key of its role.
type overHTTP struct{ srv *testserver.Server }

func (e overHTTP) As(t *testing.T, a api.Actor) (api.Kavach, context.Context) {
	return e.srv.Client(t, a), context.Background()
}

// TestAPISuiteOverHTTP runs the suite that the embedded facade passes too.
func TestAPISuiteOverHTTP(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		apitest.Run(t, func(t *testing.T) apitest.Env {
			return overHTTP{testserver.Start(t, b.New(t), service.Config{})}
		})
	})
}

// TestImportsOnlyAPIAndAgent keeps the client light: no OPA, SQLite or pgx behind it.
func TestImportsOnlyAPIAndAgent(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/kavachos/kavach-go/client": true,
		"github.com/kavachos/kavach-go/api":    true,
		"github.com/kavachos/kavach-go/agent":  true,
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !allowed[pkg] {
			t.Errorf("the client depends on %s", pkg)
		}
	}
}
