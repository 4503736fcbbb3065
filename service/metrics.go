package service

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kavachos/kavach-go/api"
	"github.com/kavachos/kavach-go/audit"
	"github.com/kavachos/kavach-go/engine"
	"github.com/kavachos/kavach-go/lifecycle"
)

// metrics are the service's Prometheus series, in a registry of its own so that several
// servers in one process (tests) do not collide.
type metrics struct {
	reg             *prometheus.Registry
	handler         http.Handler
	decisions       *prometheus.CounterVec
	decisionSeconds prometheus.Histogram
	requests        *prometheus.CounterVec
	requestSeconds  *prometheus.HistogramVec

	// Children resolved once per label set: WithLabelValues hashes the labels and takes
	// a lock on every call, and formatting the status allocated.
	decisionsBy   childCache[api.DecisionCode, prometheus.Counter]
	requestsBy    childCache[requestLabels, prometheus.Counter]
	requestTimeBy childCache[routeLabels, prometheus.Observer]
}

type routeLabels struct{ method, route string }

type requestLabels struct {
	routeLabels
	status int
}

// childCache maps label values to their resolved child, copy-on-write: a lookup takes no
// lock and allocates nothing, and a miss resolves the child and publishes a new map. The
// label sets are few and bounded (methods, route templates, statuses, decision codes), and
// a series still appears only once it is first used.
type childCache[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (c *childCache[K, V]) get(k K, resolve func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if m := c.m.Load(); m != nil {
		old = *m
	}
	if v, ok := old[k]; ok {
		return v
	}
	next := make(map[K]V, len(old)+1)
	for ok, ov := range old {
		next[ok] = ov
	}
	v := resolve()
	next[k] = v
	c.m.Store(&next)
	return v
}

func newMetrics(extra []prometheus.Collector) (*metrics, error) {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kavach_decisions_total", Help: "Authorization decisions by decision code.",
		}, []string{"code"}),
		decisionSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kavach_decision_duration_seconds", Help: "Time to reach and audit a decision.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kavach_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kavach_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	cs := []prometheus.Collector{m.decisions, m.decisionSeconds, m.requests, m.requestSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, c := range append(cs, extra...) {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) decided(d *api.Decision, took time.Duration) {
	if d == nil {
		return
	}
	m.decisionsBy.get(d.Code, func() prometheus.Counter { return m.decisions.WithLabelValues(string(d.Code)) }).Inc()
	m.decisionSeconds.Observe(took.Seconds())
}

func (m *metrics) request(method, route string, status int, took time.Duration) {
	l := requestLabels{routeLabels{method, route}, status}
	m.requestsBy.get(l, func() prometheus.Counter {
		return m.requests.WithLabelValues(method, route, strconv.Itoa(status))
	}).Inc()
	m.requestTimeBy.get(l.routeLabels, func() prometheus.Observer {
		return m.requestSeconds.WithLabelValues(method, route)
	}).Observe(took.Seconds())
}

// methods bounds the method label: anything else is counted as OTHER.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// observe counts and times every request, labelled by route template rather than by path
// so that ids do not multiply series. Errors are rendered here, so the status is known.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		s.traced(c, next)
		took := time.Since(start)
		r := c.Request()
		method, route := r.Method, c.Path()
		if !methods[method] {
			method = "OTHER"
		}
		if !s.known[route] {
			route = "unmatched"
		}
		status := c.Response().Status
		s.metrics.request(method, route, status, took)
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.DebugContext(r.Context(), "request", "method", method, "route", route, "status", status,
				"duration", took.String())
		}
		return nil
	}
}

func (s *Server) serveMetrics(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// partsCollector exports each long-running part's state as kavach_part_state{part, state},
// 1 for the state it is in and 0 for the others, read at scrape time.
type partsCollector struct{ k Facade }

var partStateDesc = prometheus.NewDesc("kavach_part_state",
	"State of each long-running part (audit pipeline, Kafka relay, change feed, bundle loader, webhook): 1 for the current state.",
	[]string{"part", "state"}, nil)

func (c partsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- partStateDesc }

func (c partsCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.k.Parts() {
		for _, state := range lifecycle.States {
			v := 0.0
			if st.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(partStateDesc, prometheus.GaugeValue, v, name, string(state))
		}
	}
}

// AuditSource is what the audit metrics read: the ledger pipeline's counters and the Kafka
// relay's lag. *kavach.Kavach provides both.
type AuditSource interface {
	AuditStats() audit.Stats
	RelayLag(ctx context.Context) (int64, error)
	RelayLeading() bool
	AuditWitnessFailures() int64
}

// AuditCollectors returns the audit ledger's metrics, for Config.Collectors.
func AuditCollectors(src AuditSource) []prometheus.Collector {
	gauge := func(name, help string, f func(audit.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(src.AuditStats()) })
	}
	counter := func(name, help string, f func(audit.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(src.AuditStats()) })
	}
	return []prometheus.Collector{
		gauge("kavach_audit_queue_depth", "Audit events waiting to be written.", func(s audit.Stats) float64 { return float64(s.Queued) }),
		counter("kavach_audit_events_written_total", "Audit events committed to the ledger.", func(s audit.Stats) float64 { return float64(s.Written) }),
		counter("kavach_audit_commits_total", "Ledger transactions committed; events written over commits is the group commit's batch size.", func(s audit.Stats) float64 { return float64(s.Batches) }),
		counter("kavach_audit_failed_closed_total", "Decisions denied because their audit event could not be queued or committed.", func(s audit.Stats) float64 { return float64(s.FailedClosed) }),
		counter("kavach_audit_write_errors_total", "Failed ledger commits (retried).", func(s audit.Stats) float64 { return float64(s.WriteErrors) }),
		counter("kavach_audit_integrity_errors_total", "Events set aside because the ledger holds their id with other content.", func(s audit.Stats) float64 { return float64(s.IntegrityErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kavach_audit_witness_failures_total", Help: "Signed checkpoints the out-of-band witness did not take."},
			func() float64 { return float64(src.AuditWitnessFailures()) }),
		counter("kavach_audit_spooled_total", "Events a stop could not commit in time and wrote to the spool file.", func(s audit.Stats) float64 { return float64(s.Spooled) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kavach_audit_relay_leading", Help: "1 if this instance's Kafka relay holds the cluster's lease."},
			func() float64 {
				if src.RelayLeading() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kavach_audit_relay_lag", Help: "Committed audit events not yet published to Kafka."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			lag, err := src.RelayLag(ctx)
			if err != nil {
				return -1
			}
			return float64(lag)
		}),
	}
}

// PolicySource reports the policy revision and the shadow revision's record;
// *engine.Engine provides it.
type PolicySource interface {
	Status() engine.PolicyStatus
	ShadowStatus() *api.ShadowStatus
}

// PolicyCollectors returns the policy revision metrics, for Config.Collectors: revisions
// activated and refused, and the active revision as an info metric.
func PolicyCollectors(src PolicySource) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kavach_policy_activations_total", Help: "Policy revisions activated."},
			func() float64 { return float64(src.Status().Activations) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kavach_policy_rejections_total", Help: "Policy revisions refused (the previous one stayed active)."},
			func() float64 { return float64(src.Status().Rejections) }),
		policyInfo{src},
		shadowMetrics{src},
	}
}

// shadowMetrics exports the shadow revision's counters, when one runs: calls evaluated,
// dropped and failed, and disagreements by (active code, shadow code).
type shadowMetrics struct{ src PolicySource }

var (
	shadowEvaluatedDesc = prometheus.NewDesc("kavach_policy_shadow_evaluated_total", "Calls the shadow revision evaluated.", []string{"revision"}, nil)
	shadowDroppedDesc   = prometheus.NewDesc("kavach_policy_shadow_dropped_total", "Calls not evaluated by the shadow revision because its queue was full.", []string{"revision"}, nil)
	shadowErrorsDesc    = prometheus.NewDesc("kavach_policy_shadow_errors_total", "Calls the shadow revision failed to evaluate.", []string{"revision"}, nil)
	shadowDisagreeDesc  = prometheus.NewDesc("kavach_policy_shadow_disagreements_total", "Calls the shadow revision answered with another code than the active one.", []string{"revision", "active", "shadow"}, nil)
)

func (m shadowMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{shadowEvaluatedDesc, shadowDroppedDesc, shadowErrorsDesc, shadowDisagreeDesc} {
		ch <- d
	}
}

func (m shadowMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.src.ShadowStatus()
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(shadowEvaluatedDesc, prometheus.CounterValue, float64(st.Evaluated), st.Revision)
	ch <- prometheus.MustNewConstMetric(shadowDroppedDesc, prometheus.CounterValue, float64(st.Dropped), st.Revision)
	ch <- prometheus.MustNewConstMetric(shadowErrorsDesc, prometheus.CounterValue, float64(st.Errors), st.Revision)
	for _, c := range st.ByCodes {
		ch <- prometheus.MustNewConstMetric(shadowDisagreeDesc, prometheus.CounterValue, float64(c.Count), st.Revision, string(c.Active), string(c.Shadow))
	}
}

// policyInfo exports kavach_policy_info{revision="…"} 1 for the active revision.
type policyInfo struct{ src PolicySource }

var policyInfoDesc = prometheus.NewDesc("kavach_policy_info", "The active policy revision.", []string{"revision"}, nil)

func (p policyInfo) Describe(ch chan<- *prometheus.Desc) { ch <- policyInfoDesc }

func (p policyInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(policyInfoDesc, prometheus.GaugeValue, 1, p.src.Status().Revision)
}
