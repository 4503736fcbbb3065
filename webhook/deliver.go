package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/kavachos/kavach-go/lifecycle"
)

// userAgent names the sender and the version of the request format.
const userAgent = "kavach-webhook/1"

// run delivers queued events one at a time until Close closes the queue.
func (n *Notifier) run() {
	defer close(n.done)
	defer n.cancel()
	for ev := range n.queue {
		n.deliver(ev)
	}
}

// deliver tries ev until a receiver accepts it, attempts run out or Close gives up.
func (n *Notifier) deliver(ev event) {
	var err error
	attempt := 0
	for attempt < n.cfg.MaxAttempts {
		if n.stop.Err() != nil {
			err = errClosed
			break
		}
		if attempt > 0 && !n.sleep(backoff(n.cfg.Backoff, attempt)) {
			err = errClosed
			break
		}
		attempt++
		if err = n.attempt(ev); err == nil {
			n.delivered.Add(1)
			n.Set(lifecycle.OK, "")
			return
		}
		n.log.Warn("webhook attempt failed", "id", ev.id, "type", ev.typ, "attempt", attempt, "err", err)
	}
	n.failed.Add(1)
	n.log.Error("webhook event dropped", "id", ev.id, "type", ev.typ, "attempts", attempt, "err", err)
	if !errors.Is(err, errClosed) {
		n.Set(lifecycle.Error, fmt.Sprintf("event %s dropped after %d attempts: %v", ev.id, attempt, err))
	}
}

// attempt makes one signed POST of ev. Any answer but 2xx is an error.
func (n *Notifier) attempt(ev event) error {
	ctx, cancel := context.WithTimeout(n.stop, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(ev.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderID, ev.id)
	req.Header.Set(HeaderSignature, Sign(n.cfg.Secret, time.Now(), ev.body))

	n.attempts.Add(1)
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read a little of the body so the connection can be reused; receivers owe us nothing.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return nil
}

// sleep waits d, or less if Close gives up; it reports whether the full wait passed.
func (n *Notifier) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.stop.Done():
		return false
	}
}

// backoff is the wait before retry number retry (1 for the first retry): base doubled per
// earlier retry, capped at MaxBackoff, then drawn from its upper half so that senders that
// failed together do not retry together.
func backoff(base time.Duration, retry int) time.Duration {
	d := min(base, MaxBackoff)
	for i := 1; i < retry && d < MaxBackoff; i++ {
		d = min(2*d, MaxBackoff)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
