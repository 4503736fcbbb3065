package decisionlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/kavachos/kavach-go/lifecycle"
)

// takeEvents is how many events one pass takes out of the buffer to pack into uploads.
const takeEvents = 1000

// packFactor: a chunk is first packed with up to this many times the upload limit of
// uncompressed JSON (decision events compress well), then halved until its gzip fits.
const packFactor = 8

// StatusError is an upload the service answered with a status other than 2xx.
type StatusError struct{ StatusCode int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("the decision-log service answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// uploader is the state of the one goroutine that uploads.
type uploader struct {
	enc   encoder
	batch []Decision
	json  [][]byte
	body  bytes.Buffer
	gz    *gzip.Writer
}

func (s *Sink) run() {
	defer close(s.done)
	defer s.cancel()
	u := &uploader{enc: encoder{labels: s.labels(), mask: s.cfg.Mask}}
	u.gz, _ = gzip.NewWriterLevel(&u.body, gzip.DefaultCompression)
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	retries := 0
	var reportedDrops int64
	for {
		nudge := s.nudge
		if retries > 0 {
			nudge = nil // backing off: a filling buffer does not cut the wait short
		}
		select {
		case <-s.stopping:
			s.drain(u)
			return
		case <-timer.C:
		case <-nudge:
		}
		err := s.flush(s.ctx, u)
		wait := s.cfg.FlushInterval
		switch {
		case err != nil:
			retries++
			wait = s.backoff(retries)
			st := s.Stats()
			s.Set(lifecycle.Error, fmt.Sprintf("upload to %s failed: %v; %d events buffered", s.endpoint, err, st.Buffered))
			if retries == 1 {
				s.cfg.Logger.Warn("decision log: upload failed; retrying with back-off", "endpoint", s.endpoint, "error", err, "buffered", st.Buffered)
			}
		case retries > 0:
			s.cfg.Logger.Info("decision log: uploads succeed again", "endpoint", s.endpoint, "failedAttempts", retries)
			retries = 0
			s.Set(lifecycle.OK, "")
		}
		if d := s.Stats().Dropped; d > reportedDrops {
			s.cfg.Logger.Warn("decision log: events dropped", "dropped", d-reportedDrops, "droppedTotal", d)
			reportedDrops = d
		}
		timer.Reset(wait)
	}
}

// drain uploads what is buffered until it is all sent or the stop deadline cancels s.ctx;
// what is left then is dropped and counted.
func (s *Sink) drain(u *uploader) {
	s.mu.Lock()
	s.stopped = true // from now on Offer drops: the end is in sight
	s.mu.Unlock()
	for retries := 1; s.ctx.Err() == nil; retries++ {
		if err := s.flush(s.ctx, u); err == nil {
			break
		}
		t := time.NewTimer(s.backoff(retries))
		select {
		case <-t.C:
		case <-s.ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = s.n
	s.st.Dropped += int64(s.n)
	for s.n > 0 {
		s.ring[s.head] = Decision{}
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
}

// flush uploads everything buffered, chunk by chunk, oldest first. At the first failure it
// puts the events not delivered back in front of the buffer and returns the error.
func (s *Sink) flush(ctx context.Context, u *uploader) error {
	for {
		u.batch = s.take(u.batch[:0], takeEvents)
		if len(u.batch) == 0 {
			return nil
		}
		if err := s.upload(ctx, u); err != nil {
			return err
		}
	}
}

// upload sends the batch u holds in as many requests as the upload limit needs.
func (s *Sink) upload(ctx context.Context, u *uploader) error {
	u.json = u.json[:0]
	kept := u.batch[:0]
	bad := 0
	for i := range u.batch {
		b, err := u.enc.encode(&u.batch[i])
		if err != nil {
			s.cfg.Logger.Error("decision log: event not encodable: dropped", "decision_id", u.batch[i].ID, "error", err)
			bad++
			continue
		}
		kept = append(kept, u.batch[i])
		u.json = append(u.json, b)
	}
	clear(u.batch[len(kept):])
	u.batch = kept
	if bad > 0 {
		s.settle(0, bad)
	}
	for i := 0; i < len(u.json); {
		n, err := u.chunk(u.json[i:], s.cfg.UploadBytes)
		if err != nil {
			return s.undelivered(u, i, err)
		}
		if n == 0 { // one event alone is over the limit
			s.cfg.Logger.Error("decision log: event larger than the upload limit: dropped", "decision_id", u.batch[i].ID,
				"limitBytes", s.cfg.UploadBytes)
			s.settle(0, 1)
			i++
			continue
		}
		if err := s.post(ctx, u.body.Bytes()); err != nil {
			s.failed()
			return s.undelivered(u, i, err)
		}
		s.settle(n, 0)
		i += n
	}
	clear(u.batch)
	return nil
}

// undelivered puts the batch from index i back and returns err.
func (s *Sink) undelivered(u *uploader, i int, err error) error {
	s.putBack(u.batch[i:])
	clear(u.batch)
	return err
}

// chunk gzips into u.body a JSON array of as many of the first events as fit in limit
// bytes compressed, and says how many: 0 when the first alone does not fit.
func (u *uploader) chunk(events [][]byte, limit int) (int, error) {
	n, size := 0, 2
	for n < len(events) && (n == 0 || size+len(events[n])+1 <= packFactor*limit) {
		size += len(events[n]) + 1
		n++
	}
	for n > 0 {
		if err := u.compress(events[:n]); err != nil {
			return 0, err
		}
		if u.body.Len() <= limit {
			return n, nil
		}
		n /= 2
	}
	return 0, nil
}

func (u *uploader) compress(events [][]byte) error {
	u.body.Reset()
	u.gz.Reset(&u.body)
	u.gz.Write([]byte{'['})
	for i, e := range events {
		if i > 0 {
			u.gz.Write([]byte{','})
		}
		u.gz.Write(e)
	}
	u.gz.Write([]byte{']'})
	return u.gz.Close() // a bytes.Buffer does not fail: this is the only error
}

// post sends one gzip-compressed JSON array as OPA does.
func (s *Sink) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", "kavach/"+s.cfg.Version)
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			return ue.Err // the *url.Error repeats the endpoint, named beside it already
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{StatusCode: resp.StatusCode}
	}
	return nil
}

// backoff is the wait before the given retry: exponential from MinRetryDelay, capped at
// MaxRetryDelay, with ±20% jitter so that many instances do not retry in step.
func (s *Sink) backoff(retries int) time.Duration {
	d := float64(s.cfg.MinRetryDelay)
	for i := 1; i < retries && d < float64(s.cfg.MaxRetryDelay); i++ {
		d *= 2
	}
	d *= 0.8 + 0.4*rand.Float64()
	return time.Duration(min(d, float64(s.cfg.MaxRetryDelay)))
}

// labels are every event's labels: the configured ones, then Kavach's.
func (s *Sink) labels() map[string]string {
	l := map[string]string{"app": "kavach"}
	for k, v := range s.cfg.Labels {
		l[k] = v
	}
	l["id"], l["version"] = s.cfg.InstanceID, s.cfg.Version
	return l
}
