package main

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/kavachos/kavach-go/decisionlog"
)

// decisionLogConfig configures the OPA-shaped decision-log export (docs/decision-logs.md):
// off unless a URL is set.
type decisionLogConfig struct {
	DecisionLogURL           string        `yaml:"decisionLogURL"`
	DecisionLogResource      string        `yaml:"decisionLogResource"`
	DecisionLogToken         string        `yaml:"decisionLogToken"`
	DecisionLogHeaders       mapValue      `yaml:"decisionLogHeaders"`
	DecisionLogLabels        mapValue      `yaml:"decisionLogLabels"`
	DecisionLogBuffer        int           `yaml:"decisionLogBuffer"`
	DecisionLogUploadBytes   int           `yaml:"decisionLogUploadBytes"`
	DecisionLogFlushInterval time.Duration `yaml:"decisionLogFlushInterval"`
	DecisionLogMinRetryDelay time.Duration `yaml:"decisionLogMinRetryDelay"`
	DecisionLogMaxRetryDelay time.Duration `yaml:"decisionLogMaxRetryDelay"`
}

var decisionLogFlags = []serveFlag{
	{"decision-log-url", "KAVACH_DECISION_LOG_URL"}, {"decision-log-resource", "KAVACH_DECISION_LOG_RESOURCE"},
	{"decision-log-token", "KAVACH_DECISION_LOG_TOKEN"}, {"decision-log-headers", "KAVACH_DECISION_LOG_HEADERS"},
	{"decision-log-labels", "KAVACH_DECISION_LOG_LABELS"}, {"decision-log-buffer", "KAVACH_DECISION_LOG_BUFFER"},
	{"decision-log-upload-bytes", "KAVACH_DECISION_LOG_UPLOAD_BYTES"},
	{"decision-log-flush-interval", "KAVACH_DECISION_LOG_FLUSH_INTERVAL"},
	{"decision-log-min-retry-delay", "KAVACH_DECISION_LOG_MIN_RETRY_DELAY"},
	{"decision-log-max-retry-delay", "KAVACH_DECISION_LOG_MAX_RETRY_DELAY"},
}

func bindDecisionLogFlags(fs *pflag.FlagSet, c *decisionLogConfig) {
	fs.StringVar(&c.DecisionLogURL, "decision-log-url", "", "also send each decision as an OPA decision-log event to this decision-log service (http or https); off when empty (env KAVACH_DECISION_LOG_URL)")
	fs.StringVar(&c.DecisionLogResource, "decision-log-resource", decisionlog.DefaultResource, "path appended to --decision-log-url (env KAVACH_DECISION_LOG_RESOURCE)")
	fs.StringVar(&c.DecisionLogToken, "decision-log-token", "", "bearer token for the decision-log service (env KAVACH_DECISION_LOG_TOKEN)")
	fs.Var(&c.DecisionLogHeaders, "decision-log-headers", "extra request headers for the decision-log service, name=value,… (env KAVACH_DECISION_LOG_HEADERS)")
	fs.Var(&c.DecisionLogLabels, "decision-log-labels", "labels added to every decision-log event beside id, version and app, name=value,… (env KAVACH_DECISION_LOG_LABELS)")
	fs.IntVar(&c.DecisionLogBuffer, "decision-log-buffer", decisionlog.DefaultBufferEvents, "decision-log events held for upload; when full the oldest is dropped and counted (env KAVACH_DECISION_LOG_BUFFER)")
	fs.IntVar(&c.DecisionLogUploadBytes, "decision-log-upload-bytes", decisionlog.DefaultUploadBytes, "largest gzip-compressed body of one decision-log upload (env KAVACH_DECISION_LOG_UPLOAD_BYTES)")
	fs.DurationVar(&c.DecisionLogFlushInterval, "decision-log-flush-interval", decisionlog.DefaultFlushInterval, "how often buffered decision-log events are uploaded (env KAVACH_DECISION_LOG_FLUSH_INTERVAL)")
	fs.DurationVar(&c.DecisionLogMinRetryDelay, "decision-log-min-retry-delay", decisionlog.DefaultMinRetryDelay, "first back-off after a failed decision-log upload, doubled up to the maximum, with jitter (env KAVACH_DECISION_LOG_MIN_RETRY_DELAY)")
	fs.DurationVar(&c.DecisionLogMaxRetryDelay, "decision-log-max-retry-delay", decisionlog.DefaultMaxRetryDelay, "longest back-off between decision-log upload attempts (env KAVACH_DECISION_LOG_MAX_RETRY_DELAY)")
}

// config is the export's configuration; Kavach adds the audit mask to it.
func (c decisionLogConfig) config() decisionlog.Config {
	return decisionlog.Config{
		URL: c.DecisionLogURL, Resource: c.DecisionLogResource, Token: c.DecisionLogToken,
		Headers: c.DecisionLogHeaders, Labels: c.DecisionLogLabels, BufferEvents: c.DecisionLogBuffer,
		UploadBytes: c.DecisionLogUploadBytes, FlushInterval: c.DecisionLogFlushInterval,
		MinRetryDelay: c.DecisionLogMinRetryDelay, MaxRetryDelay: c.DecisionLogMaxRetryDelay,
		Version: buildVersion(),
	}
}

// mapValue is a name=value,… flag whose every Set replaces the map; in YAML it is a
// mapping (or the same string).
type mapValue map[string]string

func (m *mapValue) Set(s string) error {
	v, err := decisionlog.ParseLabels(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (m *mapValue) String() string {
	if m == nil || len(*m) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(*m)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + (*m)[k])
	}
	return b.String()
}

func (m *mapValue) Type() string { return "name=value,…" }

func (m *mapValue) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		return m.Set(n.Value)
	case yaml.MappingNode:
		var v map[string]string
		if err := n.Decode(&v); err != nil {
			return err
		}
		*m = v
		return nil
	}
	return errors.New("want a mapping of names to values")
}
