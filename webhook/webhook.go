// Package webhook announces events, such as new approval requests, to an HTTP endpoint: each
// event is POSTed as JSON, signed with HMAC-SHA256 and retried with backoff, from a bounded
// queue so that callers never wait on the receiver.
//
// The body is {"id", "type", "createdAt", "data"}. Every attempt carries the same
// Kavach-Webhook-Id header, so receivers can drop duplicates, and a fresh Kavach-Signature
// header, which receivers check with Verify.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kavachos/kavach-go/lifecycle"
)

// Defaults for zero Config fields, and the longest wait between two attempts.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 5
	DefaultBackoff     = 500 * time.Millisecond
	DefaultQueueSize   = 1024
	MaxBackoff         = 30 * time.Second
)

// MinSecretLen is the shortest accepted signing secret, in bytes.
const MinSecretLen = 16

// Config configures a Notifier. Zero durations and counts take their defaults.
type Config struct {
	// URL is the absolute http or https endpoint events are POSTed to.
	URL string
	// Secret signs every request; receivers verify with the same secret.
	Secret string
	// Timeout bounds each attempt, response included. Default 5s.
	Timeout time.Duration
	// MaxAttempts is how many times one event is tried before it is dropped. Default 5.
	MaxAttempts int
	// Backoff bounds the wait after the first failed attempt; the bound doubles after each
	// further failure, up to MaxBackoff, and each wait is drawn at random from the upper
	// half of its bound so that retries from many senders spread out. Default 500ms.
	Backoff time.Duration
	// QueueSize is how many events may wait for delivery; Notify rejects events beyond it.
	// Default 1024.
	QueueSize int
	// Client sends the requests. Nil means a client that does not follow redirects, so a
	// 3xx answer counts as a failure rather than re-sending the signed body elsewhere.
	Client *http.Client
	// Logger receives warnings about rejected, failed and dropped events. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// ConfigError says which Config field is wrong and why.
type ConfigError struct {
	Field   string
	Message string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("webhook: invalid %s: %s", e.Field, e.Message)
}

// Stats counts what a Notifier has done since New.
type Stats struct {
	Delivered int64 // events a receiver acknowledged with 2xx
	Failed    int64 // accepted events dropped: attempts exhausted, or Close cut short
	Rejected  int64 // events Notify refused: queue full, notifier closed, or not encodable
	Attempts  int64 // HTTP requests made, successful or not
}

// Notifier delivers events to one endpoint from a single background worker. It is safe for
// concurrent use.
type Notifier struct {
	lifecycle.Reporter
	cfg    Config
	log    *slog.Logger
	client *http.Client

	mu     sync.RWMutex // guards closed and sending on queue against close(queue)
	closed bool
	queue  chan event

	stop      context.Context // cancelled when Close gives up waiting
	cancel    context.CancelFunc
	done      chan struct{} // closed when the worker has exited
	closeOnce sync.Once

	delivered, failed, rejected, attempts atomic.Int64
}

// event is one queued notification, already encoded so retries send identical bytes.
type event struct {
	id, typ string
	body    []byte
}

// envelope is the JSON body of every request.
type envelope struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"` // encodes as RFC 3339 with nanoseconds
	Data      any       `json:"data"`
}

// New validates cfg, fills in defaults and starts the delivery worker. Call Close to stop it.
func New(cfg Config) (*Notifier, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		cfg:    cfg,
		log:    cfg.Logger,
		client: cfg.Client,
		queue:  make(chan event, cfg.QueueSize),
		done:   make(chan struct{}),
	}
	n.stop, n.cancel = context.WithCancel(context.Background())
	n.Set(lifecycle.OK, "")
	go n.run()
	return n, nil
}

func withDefaults(cfg Config) (Config, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		return cfg, &ConfigError{"URL", "is required"}
	case err != nil:
		return cfg, &ConfigError{"URL", "does not parse"} // the parse error may echo credentials
	case u.Scheme != "http" && u.Scheme != "https":
		return cfg, &ConfigError{"URL", "must be an absolute http or https URL"}
	case u.Host == "":
		return cfg, &ConfigError{"URL", "has no host"}
	case cfg.Secret == "":
		return cfg, &ConfigError{"Secret", "is required"}
	case len(cfg.Secret) < MinSecretLen:
		return cfg, &ConfigError{"Secret", fmt.Sprintf("must be at least %d bytes", MinSecretLen)}
	case cfg.Timeout < 0:
		return cfg, &ConfigError{"Timeout", "must not be negative"}
	case cfg.MaxAttempts < 0:
		return cfg, &ConfigError{"MaxAttempts", "must not be negative"}
	case cfg.Backoff < 0:
		return cfg, &ConfigError{"Backoff", "must not be negative"}
	case cfg.QueueSize < 0:
		return cfg, &ConfigError{"QueueSize", "must not be negative"}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// Notify queues an event of the given type whose data is payload encoded as JSON. It never
// blocks: it returns false, and logs a warning, when the queue is full, the notifier is
// closed or payload cannot be encoded.
func (n *Notifier) Notify(eventType string, payload any) bool {
	id := "evt_" + rand.Text()
	body, err := json.Marshal(envelope{ID: id, Type: eventType, CreatedAt: time.Now().UTC(), Data: payload})
	if err != nil {
		return n.reject(id, eventType, "payload is not JSON-encodable", err)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return n.reject(id, eventType, "notifier is closed", nil)
	}
	select {
	case n.queue <- event{id: id, typ: eventType, body: body}:
		return true
	default:
		return n.reject(id, eventType, "queue is full", nil)
	}
}

func (n *Notifier) reject(id, eventType, reason string, err error) bool {
	n.rejected.Add(1)
	attrs := []any{"id", id, "type", eventType, "reason", reason}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	n.log.Warn("webhook event rejected", attrs...)
	return false
}

// Close stops accepting events and waits until every queued event has been delivered or
// dropped, retries included. If ctx ends first, Close abandons what is left, counting it as
// Failed, and returns ctx's error. Calling Close again waits in the same way.
func (n *Notifier) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.queue)
		n.mu.Unlock()
	})
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-n.done: // finished just as ctx ended: nothing was cut short
		return nil
	default:
	}
	n.cancel()
	<-n.done // quick: the worker's requests and waits all watch n.stop
	return ctx.Err()
}

// Stats returns the notifier's counters.
func (n *Notifier) Stats() Stats {
	return Stats{
		Delivered: n.delivered.Load(),
		Failed:    n.failed.Load(),
		Rejected:  n.rejected.Load(),
		Attempts:  n.attempts.Load(),
	}
}

var errClosed = errors.New("notifier closed before delivery")
