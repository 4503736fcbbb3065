package kavach_test

import (
	"context"
	"testing"

	kavach "github.com/kavachos/kavach-go"
	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/internal/apitest"
	"github.com/kavachos/kavach-go/internal/testserver"
)

// embedded runs the API suite in-process: the actor rides in the context.
type embedded struct{ k *kavach.Kavach }

func (e embedded) As(_ *testing.T, a api.Actor) (api.Kavach, context.Context) {
	return e.k, kavach.WithActor(context.Background(), a)
}

// TestAPISuiteEmbedded runs the suite that the HTTP client passes too (client/), against
// the facade itself.
func TestAPISuiteEmbedded(t *testing.T) {
	testserver.EachBackend(t, func(t *testing.T, b testserver.Backend) {
		apitest.Run(t, func(t *testing.T) apitest.Env {
			k, err := kavach.Open(context.Background(), kavach.Config{Database: b.New(t), Audit: kavach.AuditConfig{SigningKey: testserver.AuditKey}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { k.Close() })
			return embedded{k}
		})
	})
}
