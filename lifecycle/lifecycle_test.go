package lifecycle_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kavachos/kavach-go/lifecycle"
)

type part struct {
	lifecycle.Reporter
	name     string
	startErr error
	log      *[]string
}

func (p *part) Name() string { return p.name }
func (p *part) Start(context.Context) error {
	*p.log = append(*p.log, "start "+p.name)
	if p.startErr == nil {
		p.Set(lifecycle.OK, "")
	}
	return p.startErr
}
func (p *part) Stop(context.Context) error {
	*p.log = append(*p.log, "stop "+p.name)
	return nil
}

func TestGroupStartsInOrderStopsInReverseAndGatesReadiness(t *testing.T) {
	var log []string
	var g lifecycle.Group
	ctx := context.Background()
	pipeline := &part{name: "pipeline", log: &log}
	relay := &part{name: "relay", log: &log}
	broken := &part{name: "broken", log: &log, startErr: errors.New("no")}
	if err := g.Start(ctx, pipeline); err != nil {
		t.Fatal(err)
	}
	if err := g.StartAdvisory(ctx, relay); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx, broken); err == nil {
		t.Fatal("a part that fails to start must say so")
	}
	if err := g.NotReady(); err != nil {
		t.Fatalf("all gating parts OK: %v", err)
	}
	relay.Set(lifecycle.Error, "broker down")
	if err := g.NotReady(); err != nil {
		t.Fatalf("an advisory part must not gate readiness: %v", err)
	}
	pipeline.Set(lifecycle.Error, "ledger down")
	var se *lifecycle.StateError
	if err := g.NotReady(); !errors.As(err, &se) || se.Component != "pipeline" || se.Status.Message != "ledger down" {
		t.Fatalf("a failing gating part: %v", err)
	}
	if st := g.Statuses(); st["relay"].State != lifecycle.Error || len(st) != 2 {
		t.Fatalf("statuses: %+v", st)
	}
	if err := g.Stop(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	want := []string{"start pipeline", "start relay", "start broken", "stop relay", "stop pipeline"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("order: %v", log)
	}
}

func TestReporterKeepsSinceWhileTheStateHolds(t *testing.T) {
	var r lifecycle.Reporter
	if r.Status().State != lifecycle.NotReady {
		t.Fatal("a part that never reported is NOT_READY")
	}
	r.Set(lifecycle.Error, "a")
	since := r.Status().Since
	r.Set(lifecycle.Error, "b")
	if st := r.Status(); st.Since != since || st.Message != "b" {
		t.Fatalf("%+v", st)
	}
}

type slowStop struct {
	lifecycle.Reporter
	name string
	got  error // the context's error when Stop began
	wait bool
}

func (p *slowStop) Name() string                { return p.name }
func (p *slowStop) Start(context.Context) error { return nil }
func (p *slowStop) Stop(ctx context.Context) error {
	p.got = ctx.Err()
	if p.wait {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// A part that uses up its whole budget leaves the parts stopped after it theirs.
func TestEachPartStopsWithinItsOwnBudget(t *testing.T) {
	var g lifecycle.Group
	ctx := context.Background()
	pipeline := &slowStop{name: "pipeline"}
	notifier := &slowStop{name: "notifier", wait: true}
	g.Start(ctx, pipeline)
	g.Start(ctx, notifier)
	if err := g.Stop(ctx, 50*time.Millisecond); err == nil {
		t.Fatal("the slow part's timeout must be reported")
	}
	if pipeline.got != nil {
		t.Fatalf("the part stopped after a slow one began with an expired context: %v", pipeline.got)
	}
}
