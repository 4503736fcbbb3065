package main

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// errDuration is the one answer for a duration the CLI cannot read.
var errDuration = errors.New("want a duration such as 90m, 24h, 7d or 1d12h (d is 24h)")

// parseDuration reads a Go duration ("90s", "15m", "24h") that may also count days, as
// people write expiries: "7d", "1d12h", "1.5d". A day is 24 hours.
func parseDuration(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if s == "" || len(s) > 64 {
		return 0, errDuration
	}
	var days float64
	var rest strings.Builder
	for s != "" {
		n := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if n < 0 {
			n = len(s)
		}
		if n == 0 {
			return 0, errDuration
		}
		num := s[:n]
		s = s[n:]
		u := strings.IndexFunc(s, func(r rune) bool { return (r >= '0' && r <= '9') || r == '.' })
		if u < 0 {
			u = len(s)
		}
		unit := s[:u]
		s = s[u:]
		if unit != "d" {
			rest.WriteString(num + unit)
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, errDuration
		}
		days += f
	}
	var d time.Duration
	if rest.Len() > 0 {
		var err error
		if d, err = time.ParseDuration(rest.String()); err != nil {
			return 0, errDuration
		}
	}
	fromDays := days * float64(24*time.Hour)
	if fromDays >= math.MaxInt64 || time.Duration(fromDays) > math.MaxInt64-d {
		return 0, errDuration
	}
	total := time.Duration(fromDays) + d
	if neg {
		total = -total
	}
	return total, nil
}

// durationValue is a flag holding a duration that parseDuration reads.
type durationValue struct{ d *time.Duration }

func (v durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Type() string { return "duration" }
