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

// TestImportsOnlyAPIAndAgent keeps the client light: of Kavach only api/ and agent/ (and
// the propagation helpers), of the rest only OpenTelemetry's API; no OPA, SQLite or pgx,
// and no OpenTelemetry SDK or exporter.
func TestImportsOnlyAPIAndAgent(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{.ImportPath}} {{.Module.Path}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/kavachos/kavach-go/client":                true,
		"github.com/kavachos/kavach-go/api":                   true,
		"github.com/kavachos/kavach-go/agent":                 true,
		"github.com/kavachos/kavach-go/internal/tracecontext": true,
	}
	// OpenTelemetry's API and what it needs, by module.
	api := map[string]bool{
		"go.opentelemetry.io/otel": true, "go.opentelemetry.io/otel/trace": true,
		"go.opentelemetry.io/otel/metric": true, "go.opentelemetry.io/otel/log": true,
		"go.opentelemetry.io/auto/sdk": true, "github.com/go-logr/logr": true,
		"github.com/go-logr/stdr": true, "github.com/cespare/xxhash/v2": true,
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		pkg, mod, _ := strings.Cut(line, " ")
		sdk := strings.HasPrefix(pkg, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(pkg, "go.opentelemetry.io/otel/exporters")
		if !allowed[pkg] && (!api[mod] || sdk) {
			t.Errorf("the client depends on %s", pkg)
		}
	}
}
