package console

import (
	"slices"
	"strconv"
	"time"

	"github.com/kavachos/kavach-go/agent"
)

// chart is a stacked bar chart of decisions over time by result, drawn as inline SVG by
// the template from these numbers.
type chart struct {
	Bars    []bar
	Legend  []series
	Width   int
	Height  int
	Total   int
	Summary string
	// The plot area inside the axes, and the axes' ticks.
	Left, Right, Top, Bottom int
	XTicks, YTicks           []tick
	First, Last              time.Time
}

// tick is an axis label at (X, Y). A time axis's tick also carries its instant, so that
// the page can show it in the viewer's time zone (Label is UTC until then).
type tick struct {
	X, Y  int
	Label string
	At    time.Time
	Long  bool // the label has the day as well as the time
}

type series struct {
	Result string
	Class  string
	Count  int
}

type bar struct {
	X, W   int
	Label  string
	Blocks []block
}

type block struct {
	Y, H  int
	Class string
	Title string
}

const (
	chartBuckets = 24
	chartWidth   = 760
	chartHeight  = 220
	chartLeft    = 44 // room for the count labels
	chartTop     = 16
	chartBottom  = chartHeight - 26 // room for the time labels
	plotWidth    = chartWidth - chartLeft - 8
	plotHeight   = chartBottom - chartTop
)

// resultClass maps a decision result to its CSS class; results not listed share "other".
var resultClass = map[string]string{"allowed": "allowed", "denied": "denied", "rate_limited": "limited",
	"approval_required": "approval", "check": "check"}

// decisionChart buckets decision events (newest first or any order) into equal time spans.
func decisionChart(events []agent.AuditEvent) chart {
	ch := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartLeft + plotWidth, Top: chartTop, Bottom: chartBottom}
	var ds []agent.AuditEvent
	for _, e := range events {
		if e.Kind == "decision" {
			ds = append(ds, e)
		}
	}
	if len(ds) == 0 {
		ch.Summary = "No decisions match the filter."
		return ch
	}
	first, last := ds[0].Time, ds[0].Time
	for _, e := range ds {
		first, last = minTime(first, e.Time), maxTime(last, e.Time)
	}
	span := last.Sub(first)/chartBuckets + time.Nanosecond
	counts := make([]map[string]int, chartBuckets)
	totals := map[string]int{}
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for _, e := range ds {
		i := min(int(e.Time.Sub(first)/span), chartBuckets-1)
		counts[i][e.Result]++
		totals[e.Result]++
	}
	peak := 1
	for _, m := range counts {
		n := 0
		for _, v := range m {
			n += v
		}
		peak = max(peak, n)
	}
	results := make([]string, 0, len(totals))
	for r := range totals {
		results = append(results, r)
	}
	slices.Sort(results)
	for _, r := range results {
		ch.Legend = append(ch.Legend, series{Result: r, Class: classOf(r), Count: totals[r]})
	}
	bw := plotWidth / chartBuckets
	for i, m := range counts {
		b := bar{X: chartLeft + 1 + i*bw, W: bw - 2, Label: first.Add(time.Duration(i) * span).UTC().Format("2006-01-02 15:04:05")}
		y := chartBottom
		for _, r := range results {
			h := m[r] * plotHeight / peak
			if m[r] > 0 && h == 0 {
				h = 1
			}
			if h == 0 {
				continue
			}
			y -= h
			b.Blocks = append(b.Blocks, block{Y: y, H: h, Class: classOf(r), Title: b.Label + ": " + strconv.Itoa(m[r]) + " " + r})
		}
		ch.Bars = append(ch.Bars, b)
	}
	ch.Total = len(ds)
	ch.First, ch.Last = first, last
	for _, n := range []int{0, peak / 2, peak} {
		if n == 0 && len(ch.YTicks) > 0 || (n == peak/2 && (n == 0 || n == peak)) {
			continue
		}
		ch.YTicks = append(ch.YTicks, tick{X: chartLeft - 6, Y: chartBottom - n*plotHeight/peak, Label: strconv.Itoa(n)})
	}
	layout := "15:04"
	if last.Sub(first) > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for _, i := range []int{0, chartBuckets / 2, chartBuckets} {
		at := first.Add(time.Duration(i) * span)
		ch.XTicks = append(ch.XTicks, tick{X: chartLeft + i*bw, Y: chartBottom + 18, Label: at.UTC().Format(layout), At: at, Long: layout != "15:04"})
	}
	return ch
}

func classOf(result string) string {
	if c, ok := resultClass[result]; ok {
		return c
	}
	return "other"
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
