// Package decisionlog exports Kavach's decisions as OPA decision-log events to any HTTP
// service that speaks OPA's decision-log upload protocol, so that pipelines built for OPA
// take them unchanged. It is an export beside the audit ledger, never in a decision's way:
// a receiver that is slow, down or refusing costs buffered events, never an answer.
package decisionlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Defaults, after OPA's where OPA has one.
const (
	// DefaultResource is the path appended to the service URL (OPA's default).
	DefaultResource = "/logs"
	// DefaultBufferEvents bounds the events waiting to be uploaded (OPA's
	// buffer_size_limit_events default).
	DefaultBufferEvents = 10_000
	// DefaultUploadBytes bounds one request's gzip-compressed body (OPA's
	// upload_size_limit_bytes default, 32 KiB).
	DefaultUploadBytes = 32 << 10
	// DefaultFlushInterval is how often buffered events are uploaded. OPA reports every 5
	// to 10 minutes by default; an authorization server's decisions are wanted sooner.
	DefaultFlushInterval = 5 * time.Second
	// DefaultMinRetryDelay and DefaultMaxRetryDelay bound the back-off after a failed
	// upload (OPA starts at 100ms too).
	DefaultMinRetryDelay = 100 * time.Millisecond
	DefaultMaxRetryDelay = time.Minute
	// DefaultRequestTimeout bounds one upload request.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultStopTimeout bounds how long a stop keeps uploading what is buffered.
	DefaultStopTimeout = 5 * time.Second
)

// Path is the decision path every event names: Kavach's one decision is the Rego rule
// data.kavach.authz.decision, written as OPA writes a decision's path (no "data.", slashes).
const Path = "kavach/authz/decision"

// Bundle is the name under which an event's bundles map carries the active policy revision.
const Bundle = "kavach"

// minUploadBytes is the smallest upload limit that can carry an event.
const minUploadBytes = 512

// Config configures the export. It is off unless URL is set.
type Config struct {
	// URL is the decision-log service, http(s)://host[:port][/prefix]; events are POSTed
	// to URL + Resource.
	URL string
	// Resource is the path appended to URL (default "/logs").
	Resource string
	// Token, if set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Headers are added to every upload request.
	Headers map[string]string
	// BufferEvents bounds the events held for upload (default DefaultBufferEvents). When
	// it is full, the oldest event is dropped and counted.
	BufferEvents int
	// UploadBytes bounds one request's gzip-compressed body (default DefaultUploadBytes).
	// An event that alone compresses to more is dropped and counted.
	UploadBytes int
	// FlushInterval is how often buffered events are uploaded (default
	// DefaultFlushInterval); a buffer filling up is uploaded sooner.
	FlushInterval time.Duration
	// MinRetryDelay and MaxRetryDelay bound the exponential back-off, with jitter, after a
	// failed upload (defaults DefaultMinRetryDelay and DefaultMaxRetryDelay).
	MinRetryDelay time.Duration
	MaxRetryDelay time.Duration
	// RequestTimeout bounds one upload request (default DefaultRequestTimeout).
	RequestTimeout time.Duration
	// StopTimeout bounds how long Stop keeps uploading what is buffered, retrying, before
	// it drops the rest (default DefaultStopTimeout; Stop's context may cut it shorter).
	StopTimeout time.Duration
	// Labels are added to every event's labels, beside "id", "version" and "app" (which
	// defaults to "kavach" and may be replaced here).
	Labels map[string]string
	// Mask lists top-level argument names removed from every event's input.arguments (the
	// audit ledger's mask: a masked argument leaves Kavach in neither).
	Mask []string
	// InstanceID is the "id" label (default: a random UUID per process, as OPA's).
	InstanceID string
	// Version is the "version" label (default: Kavach's module version from the build).
	Version string
	// Client sends the uploads (default: a client with RequestTimeout).
	Client *http.Client
	// Logger receives failures (default slog.Default()).
	Logger *slog.Logger
}

// Enabled reports whether c turns the export on.
func (c Config) Enabled() bool { return c.URL != "" }

// ConfigError names the setting that is wrong.
type ConfigError struct{ Field, Problem string }

func (e *ConfigError) Error() string { return "decision log: " + e.Field + " " + e.Problem }

// reservedLabels are set by Kavach on every event.
var reservedLabels = map[string]bool{"id": true, "version": true}

// withDefaults validates c and fills in its defaults, returning the upload endpoint.
func (c Config) withDefaults() (Config, string, error) {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return c, "", &ConfigError{"URL", "is required"}
	case err != nil:
		return c, "", &ConfigError{"URL", "does not parse"} // the parse error may echo credentials
	case u.Scheme != "http" && u.Scheme != "https":
		return c, "", &ConfigError{"URL", fmt.Sprintf("must be an absolute http or https URL, not %q", u.Redacted())}
	case u.Host == "":
		return c, "", &ConfigError{"URL", "has no host"}
	case u.User != nil:
		return c, "", &ConfigError{"URL", "must not carry credentials: use the token or headers"}
	case u.RawQuery != "" || u.Fragment != "":
		return c, "", &ConfigError{"URL", "must not have a query or fragment"}
	}
	if c.Resource == "" {
		c.Resource = DefaultResource
	}
	if strings.ContainsAny(c.Resource, "?#") {
		return c, "", &ConfigError{"Resource", "must be a path"}
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + "/" + strings.TrimPrefix(c.Resource, "/")
	if _, err := url.Parse(endpoint); err != nil {
		return c, "", &ConfigError{"Resource", "does not make a URL with URL"}
	}
	switch {
	case c.BufferEvents < 0:
		return c, "", &ConfigError{"BufferEvents", "must not be negative"}
	case c.UploadBytes != 0 && c.UploadBytes < minUploadBytes:
		return c, "", &ConfigError{"UploadBytes", fmt.Sprintf("must be at least %d", minUploadBytes)}
	case c.FlushInterval < 0 || c.MinRetryDelay < 0 || c.MaxRetryDelay < 0 || c.RequestTimeout < 0 || c.StopTimeout < 0:
		return c, "", &ConfigError{"intervals", "must not be negative"}
	}
	for k, v := range c.Labels {
		if reservedLabels[k] {
			return c, "", &ConfigError{"Labels", fmt.Sprintf("may not set %q: Kavach sets it", k)}
		}
		if k == "" || v == "" {
			return c, "", &ConfigError{"Labels", "must have non-empty names and values"}
		}
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return c, "", &ConfigError{"Headers", fmt.Sprintf("%q is not a header name", k)}
		}
	}
	if c.BufferEvents == 0 {
		c.BufferEvents = DefaultBufferEvents
	}
	if c.UploadBytes == 0 {
		c.UploadBytes = DefaultUploadBytes
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.MinRetryDelay == 0 {
		c.MinRetryDelay = DefaultMinRetryDelay
		if c.MaxRetryDelay > 0 {
			c.MinRetryDelay = min(c.MinRetryDelay, c.MaxRetryDelay)
		}
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = max(DefaultMaxRetryDelay, c.MinRetryDelay)
	}
	if c.MaxRetryDelay < c.MinRetryDelay {
		return c, "", &ConfigError{"MaxRetryDelay", "must not be below MinRetryDelay"}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.InstanceID == "" {
		c.InstanceID = uuid.NewString()
	}
	if c.Version == "" {
		c.Version = moduleVersion()
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.RequestTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, endpoint, nil
}

// ParseLabels reads "name=value,name=value" into a map.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, errors.New("want name=value pairs separated by commas") // a value may be a secret: not echoed
		}
		out[k] = v
	}
	return out, nil
}

const modulePath = "github.com/kavachos/kavach-go"

// moduleVersion is the version of Kavach's module in this binary: the main module's when
// Kavach is the program, else the dependency's.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath {
			return d.Version
		}
	}
	return "unknown"
}
