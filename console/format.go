package console

import (
	"errors"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// duration writes d as people write it: 30m, 1h, 1h30m, 90s — not 30m0s. A length with
// a fraction of a second keeps Go's form.
func duration(d time.Duration) string {
	if d <= 0 || d%time.Second != 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}

var errDuration = errors.New("not a duration")

// words are the unit names people type, beside Go's own (h, m, s).
var words = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// parseDuration reads what people type for a length of time: Go durations (90s, 1h30m)
// and a number with a unit word ("10 minutes", "2 hours", "1 day", "1d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	num := strings.TrimRightFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.TrimSpace(s[len(num):])
	n, err := strconv.Atoi(strings.TrimSpace(num))
	u, ok := words[unit]
	if err != nil || !ok || n < 0 || n > 1_000_000 {
		return 0, errDuration
	}
	return time.Duration(n) * u, nil
}

// when is a time as the page shows it: UTC in the markup and on hover; the script turns
// the text into the viewer's time zone.
func when(t time.Time) template.HTML {
	u := t.UTC()
	iso := u.Format(time.RFC3339)
	full := u.Format("2006-01-02 15:04:05") + " UTC"
	return template.HTML(`<time datetime="` + iso + `" title="` + full + `">` + full + `</time>`)
}

// whenp is when for an optional time; nil reads as a word the caller chooses.
func whenp(t *time.Time, none string) template.HTML {
	if t == nil {
		return template.HTML(template.HTMLEscapeString(none))
	}
	return when(*t)
}
