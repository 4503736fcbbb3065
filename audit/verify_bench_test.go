package audit_test

import (
	"context"
	"testing"

	"github.com/kavachos/kavach-go/audit"
)

// BenchmarkVerify walks a 20,000-event SQLite chain per iteration and reports the cost
// of one event.
func BenchmarkVerify(b *testing.B) {
	s := newSQLite(b)
	const n = 20_000
	for range n / 1000 {
		appendEvents(b, s, "acme", 1000)
	}
	sg := seedSigner(b, 1)
	if err := sg.Checkpoint(context.Background(), s, "acme"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := audit.VerifyWith(context.Background(), s, "acme", audit.VerifyOptions{Trusted: []string{sg.PublicKey()}})
		if err != nil || !r.OK || r.Checked != n {
			b.Fatalf("%+v %v", r, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
