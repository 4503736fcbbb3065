package decisionlog

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/agent"
)

// Decision is one decision as Offer takes it. Its strings, map and slice are kept as they
// are, not copied, until the event is encoded: the caller must not change them afterwards.
type Decision struct {
	// ID is the decision's audit event id: the event's decision_id.
	ID string
	// Time is when the decision was made (the audit event's time).
	Time time.Time
	// Duration is how long deciding and auditing took.
	Duration time.Duration
	// Caller names who asked (the audit event's actor, "app:default" for example): the
	// event's requested_by.
	Caller string

	// The call, as the audit event records it: the event's input.
	TenantID, AgentID, OwnerID string
	Action, Resource           string
	Arguments                  map[string]any
	IP, UserAgent              string
	DryRun                     bool

	// The answer, as the API gives it: the event's result.
	Allowed               bool
	Code, Reason, Grant   string
	Via                   []string
	ApprovalID            string
	RetryAfter            time.Duration
	Revision              string // the policy revision that decided: the event's bundles
	TraceID               string // used when ctx carries no span context
	traceID               trace.TraceID
	spanID                trace.SpanID
	hasTraceID, hasSpanID bool
}

// event is an OPA decision-log event (OPA's EventV1), with the fields Kavach fills.
type event struct {
	Labels      map[string]string     `json:"labels"`
	DecisionID  string                `json:"decision_id"`
	TraceID     string                `json:"trace_id,omitempty"`
	SpanID      string                `json:"span_id,omitempty"`
	Bundles     map[string]bundleInfo `json:"bundles,omitempty"`
	Path        string                `json:"path"`
	Input       input                 `json:"input"`
	Result      result                `json:"result"`
	Erased      []string              `json:"erased,omitempty"`
	RequestedBy string                `json:"requested_by,omitempty"`
	Timestamp   time.Time             `json:"timestamp"`
	Metrics     map[string]int64      `json:"metrics,omitempty"`
}

type bundleInfo struct {
	Revision string `json:"revision,omitempty"`
}

// input is the call as the authorize API takes it, with the agent's tenant and owner.
type input struct {
	AgentID   string         `json:"agentId"`
	TenantID  string         `json:"tenantId"`
	OwnerID   string         `json:"ownerId,omitempty"`
	Action    string         `json:"action"`
	Resource  string         `json:"resource"`
	Arguments map[string]any `json:"arguments,omitempty"`
	IP        string         `json:"ip,omitempty"`
	UserAgent string         `json:"userAgent,omitempty"`
	DryRun    bool           `json:"dryRun"`
}

// result is the answer as the authorize API gives it, without the audit id (which is the
// event's decision_id).
type result struct {
	Allowed    bool     `json:"allowed"`
	Code       string   `json:"code"`
	Reason     string   `json:"reason"`
	Grant      string   `json:"grant,omitempty"`
	Via        []string `json:"via,omitempty"`
	ApprovalID string   `json:"approvalId,omitempty"`
	RetryAfter string   `json:"retryAfter,omitempty"`
}

// metricDecisionNS names the time the decision took in an event's metrics, after OPA's
// timer_*_ns names.
const metricDecisionNS = "timer_kavach_decision_ns"

// encoder turns decisions into events; it belongs to the uploader goroutine.
type encoder struct {
	labels map[string]string
	mask   []string
}

// encode returns d's event as JSON.
func (en *encoder) encode(d *Decision) ([]byte, error) {
	ev := event{
		Labels:      en.labels,
		DecisionID:  d.ID,
		Path:        Path,
		RequestedBy: d.Caller,
		Timestamp:   d.Time.UTC(),
		Input: input{
			AgentID: d.AgentID, TenantID: d.TenantID, OwnerID: d.OwnerID, Action: d.Action,
			Resource: d.Resource, IP: d.IP, UserAgent: d.UserAgent, DryRun: d.DryRun,
		},
		Result: result{
			Allowed: d.Allowed, Code: d.Code, Reason: d.Reason, Grant: d.Grant, Via: d.Via,
			ApprovalID: d.ApprovalID,
		},
	}
	ev.Input.Arguments, ev.Erased = unmasked(d.Arguments, en.mask)
	if d.RetryAfter > 0 {
		ev.Result.RetryAfter = d.RetryAfter.String()
	}
	if d.Revision != "" {
		ev.Bundles = map[string]bundleInfo{Bundle: {Revision: d.Revision}}
	}
	switch {
	case d.hasTraceID:
		ev.TraceID = d.traceID.String()
	case validTraceID(d.TraceID):
		ev.TraceID = strings.ToLower(d.TraceID)
	}
	if d.hasSpanID && ev.TraceID != "" {
		ev.SpanID = d.spanID.String()
	}
	if d.Duration > 0 {
		ev.Metrics = map[string]int64{metricDecisionNS: d.Duration.Nanoseconds()}
	}
	return json.Marshal(&ev)
}

// unmasked returns args without the masked names, copying only if one is present, and the
// JSON pointers of what it removed, for the event's "erased" (as OPA's mask policy reports
// an erased field).
func unmasked(args map[string]any, mask []string) (map[string]any, []string) {
	out, found := agent.MaskArguments(args, mask, nil)
	var erased []string
	for _, name := range found {
		erased = append(erased, "/input/arguments/"+pointerEscape(name))
	}
	slices.Sort(erased)
	return out, erased
}

// pointerEscape escapes a JSON pointer reference token (RFC 6901).
func pointerEscape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func validTraceID(id string) bool {
	t, err := trace.TraceIDFromHex(strings.ToLower(id))
	return err == nil && t.IsValid()
}
