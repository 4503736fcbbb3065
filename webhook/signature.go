package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Request headers every delivery carries.
const (
	// HeaderID is the event's id, the same on every attempt.
	HeaderID = "Kavach-Webhook-Id"
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
	HeaderSignature = "Kavach-Signature"
)

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Reasons Verify rejects a request; test with errors.Is.
var (
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	ErrSignatureMismatch  = errors.New("webhook: signature does not match")
	ErrStaleSignature     = errors.New("webhook: signature timestamp outside tolerance")
	ErrNoSecret           = errors.New("webhook: empty secret")
)

// Sign returns the HeaderSignature value for body signed with secret at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks that header, a HeaderSignature value, signs body with secret and was made
// within tolerance of now (tolerance <= 0 means DefaultTolerance), so that a captured request
// cannot be replayed later. The header may carry several v1 entries, as while a secret is
// rotated; one match is enough. Unknown entries are ignored so that newer schemes can be
// added beside v1.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return ErrNoSecret // an empty key would let anyone sign
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		matched = hmac.Equal(sig, want) || matched
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed at %s, checked at %s", ErrStaleSignature,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// parseSignature splits a header into its timestamp, kept as sent because it is signed as
// text, and its decoded v1 MACs.
func parseSignature(header string) (ts string, sigs [][]byte, err error) {
	malformed := func(why string) (string, [][]byte, error) {
		return "", nil, fmt.Errorf("%w: %s", ErrMalformedSignature, why)
	}
	if header == "" {
		return malformed("header is empty")
	}
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return malformed("entry without '='")
		}
		switch key {
		case "t":
			if ts != "" {
				return malformed("more than one t")
			}
			if _, err := strconv.ParseInt(value, 10, 64); err != nil || value == "" || value[0] == '+' {
				return malformed("t is not a unix time in seconds")
			}
			ts = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return malformed("v1 is not a hex HMAC-SHA256")
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return malformed("no t")
	}
	if len(sigs) == 0 {
		return malformed("no v1")
	}
	return ts, sigs, nil
}
