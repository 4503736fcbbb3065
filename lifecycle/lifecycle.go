// Package lifecycle gives Kavach's long-running parts (the audit pipeline, the Kafka relay,
// the bundle loader, the change feed, the webhook notifier) one shape: Start, Stop and a
// typed Status, so that readiness and metrics read states rather than log lines.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// State is a component's health, after OPA's plugin status model.
type State string

const (
	// NotReady: starting, or waiting for something it needs before it can work.
	NotReady State = "NOT_READY"
	// OK: working.
	OK State = "OK"
	// Error: failing; Message says why.
	Error State = "ERROR"
)

// States lists every state, for metrics that export one series per state.
var States = []State{NotReady, OK, Error}

// Status is a component's state, why, and since when.
type Status struct {
	State   State     `json:"state"`
	Message string    `json:"message,omitempty"`
	Since   time.Time `json:"since"`
}

// Component is a long-running part with one owner that starts and stops it.
type Component interface {
	Name() string
	Start(ctx context.Context) error
	// Stop ends the component's work; it returns when done or when ctx ends.
	Stop(ctx context.Context) error
	Status() Status
}

// Reporter holds a component's status; components embed it and call Set.
type Reporter struct {
	mu sync.Mutex
	st Status
}

// Set records the state and message. Since moves only when the state changes.
func (r *Reporter) Set(state State, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.State != state || r.st.Since.IsZero() {
		r.st.Since = time.Now()
	}
	r.st.State, r.st.Message = state, message
}

// Status returns the recorded status; a component that never set one is NOT_READY.
func (r *Reporter) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st.State == "" {
		return Status{State: NotReady}
	}
	return r.st
}

// Group owns components: it starts them in order and stops them in reverse. A component
// the service cannot answer correctly without gates readiness; an advisory one (a stream
// that catches up later, a notifier) is reported but does not.
type Group struct {
	mu       sync.Mutex
	comps    []Component
	advisory map[string]bool
}

// Start starts c and, if that works, adds it to the group; it gates readiness.
func (g *Group) Start(ctx context.Context, c Component) error {
	return g.start(ctx, c, false)
}

// StartAdvisory starts c and adds it to the group; its state is reported but does not
// gate readiness.
func (g *Group) StartAdvisory(ctx context.Context, c Component) error {
	return g.start(ctx, c, true)
}

func (g *Group) start(ctx context.Context, c Component, advisory bool) error {
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("%s: %w", c.Name(), err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.comps = append(g.comps, c)
	if advisory {
		if g.advisory == nil {
			g.advisory = map[string]bool{}
		}
		g.advisory[c.Name()] = true
	}
	return nil
}

// Stop stops every component, the last started first, each within its own budget (and
// within ctx), so that one slow part — a webhook endpoint that is down — cannot use up the
// time of the parts after it. It returns their errors joined.
func (g *Group) Stop(ctx context.Context, each time.Duration) error {
	g.mu.Lock()
	comps := g.comps
	g.comps = nil
	g.mu.Unlock()
	var errs []error
	for i := len(comps) - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(ctx, each)
		err := comps[i].Stop(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", comps[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Statuses returns each component's status by name.
func (g *Group) Statuses() map[string]Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]Status, len(g.comps))
	for _, c := range g.comps {
		out[c.Name()] = c.Status()
	}
	return out
}

// NotReady returns an error naming every component that gates readiness and is not OK,
// in start order, or nil.
func (g *Group) NotReady() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, c := range g.comps {
		if g.advisory[c.Name()] {
			continue
		}
		if st := c.Status(); st.State != OK {
			errs = append(errs, &StateError{Component: c.Name(), Status: st})
		}
	}
	return errors.Join(errs...)
}

// StateError says that a component is not OK.
type StateError struct {
	Component string
	Status    Status
}

func (e *StateError) Error() string {
	if e.Status.Message == "" {
		return fmt.Sprintf("%s is %s", e.Component, e.Status.State)
	}
	return fmt.Sprintf("%s is %s: %s", e.Component, e.Status.State, e.Status.Message)
}
