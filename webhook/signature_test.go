package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"approval.requested"}`)
	now := time.Unix(1_700_000_000, 0)
	good := Sign(testSecret, now, body)
	mac := strings.TrimPrefix(good, "t=1700000000,")
	other := strings.TrimPrefix(Sign("another-secret-of-16+", now, body), "t=1700000000,")

	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"valid", testSecret, good, body, now, nil},
		{"valid within tolerance", testSecret, good, body, now.Add(59 * time.Second), nil},
		{"rotation: second v1 matches", testSecret, "t=1700000000," + other + "," + mac, body, now, nil},
		{"unknown scheme ignored", testSecret, good + ",v0=abc", body, now, nil},
		{"tampered body", testSecret, good, []byte(`{"id":"evt_2","type":"approval.requested"}`), now, ErrSignatureMismatch},
		{"wrong secret", "0123456789abcdef-wrong", good, body, now, ErrSignatureMismatch},
		{"stale", testSecret, good, body, now.Add(2 * time.Minute), ErrStaleSignature},
		{"from the future", testSecret, good, body, now.Add(-2 * time.Minute), ErrStaleSignature},
		{"timestamp altered", testSecret, "t=1700000100," + mac, body, now.Add(100 * time.Second), ErrSignatureMismatch},
		{"empty secret", "", good, body, now, ErrNoSecret},
		{"empty header", testSecret, "", body, now, ErrMalformedSignature},
		{"garbage", testSecret, "garbage", body, now, ErrMalformedSignature},
		{"no t", testSecret, mac, body, now, ErrMalformedSignature},
		{"no v1", testSecret, "t=1700000000", body, now, ErrMalformedSignature},
		{"t not a number", testSecret, "t=soon," + mac, body, now, ErrMalformedSignature},
		{"t twice", testSecret, "t=1700000000,t=1700000000," + mac, body, now, ErrMalformedSignature},
		{"v1 not hex", testSecret, "t=1700000000,v1=zz", body, now, ErrMalformedSignature},
		{"v1 too short", testSecret, "t=1700000000,v1=abcd", body, now, ErrMalformedSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(c.secret, c.header, c.body, c.at, time.Minute)
			if !errors.Is(err, c.want) {
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}
