package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kavachos/kavach-go/decisionlog"
)

// DecisionLogSource reports the decision-log export's counters; *kavach.Kavach provides
// them (all zero while the export is off).
type DecisionLogSource interface {
	DecisionLogStats() decisionlog.Stats
}

// DecisionLogCollectors returns the decision-log export's metrics, for Config.Collectors.
func DecisionLogCollectors(src DecisionLogSource) []prometheus.Collector {
	counter := func(name, help string, f func(decisionlog.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(src.DecisionLogStats())) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kavach_decision_log_buffered_events",
			Help: "Decision-log events held for upload: waiting, or in an upload under way."},
			func() float64 { return float64(src.DecisionLogStats().Buffered) }),
		counter("kavach_decision_log_events_sent_total", "Decision-log events the decision-log service accepted.",
			func(s decisionlog.Stats) int64 { return s.Sent }),
		counter("kavach_decision_log_events_dropped_total", "Decision-log events given up: buffer full (the oldest goes), larger than the upload limit, or left at shutdown.",
			func(s decisionlog.Stats) int64 { return s.Dropped }),
		counter("kavach_decision_log_uploads_total", "Decision-log upload requests the service accepted.",
			func(s decisionlog.Stats) int64 { return s.Uploads }),
		counter("kavach_decision_log_upload_failures_total", "Decision-log upload requests that failed (no answer, or not 2xx); their events are sent again.",
			func(s decisionlog.Stats) int64 { return s.FailedUploads }),
	}
}
