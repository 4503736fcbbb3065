package main

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"24h", 24 * time.Hour, true},
		{"90s", 90 * time.Second, true},
		{"1d", 24 * time.Hour, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2h1d", 26 * time.Hour, true},
		{"-1d", -24 * time.Hour, true},
		{"0", 0, true},
		{"", 0, false},
		{"1", 0, false},
		{"d", 0, false},
		{"1w", 0, false},
		{"1dd", 0, false},
		{"1d-2h", 0, false},
		{"999999999d", 0, false},
	}
	for _, c := range cases {
		got, err := parseDuration(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
