package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Line is one series of a chart.
type Line struct {
	Label  string
	Class  string // CSS class of its stroke (tier-strategic, …)
	Values []float64
}

// chart draws lines as an inline SVG, server-side: a y axis from zero to a
// rounded maximum, one polyline per series, a legend, and a <title> and
// <desc> that say in words what it shows (screen readers read those, not
// the lines). Values are evenly spaced along x, the last on the right.
func chart(title, unit string, lines []Line, width, height int) template.HTML {
	const left, right, top, bottom = 44, 8, 8, 22
	w, h := float64(width-left-right), float64(height-top-bottom)
	peak := 0.0
	n := 0
	for _, l := range lines {
		n = max(n, len(l.Values))
		for _, v := range l.Values {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				peak = max(peak, v)
			}
		}
	}
	top1 := niceCeil(peak)
	var b strings.Builder
	var desc []string
	for _, l := range lines {
		last := 0.0
		if len(l.Values) > 0 {
			last = l.Values[len(l.Values)-1]
		}
		desc = append(desc, fmt.Sprintf("%s %s %s", l.Label, trim(last), unit))
	}
	fmt.Fprintf(&b, `<svg class="chart" role="img" viewBox="0 0 %d %d" width="%d" height="%d" aria-labelledby="%s-t %s-d">`,
		width, height, width, height, id(title), id(title))
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">now: %s</desc>`, id(title), template.HTMLEscapeString(title), id(title),
		template.HTMLEscapeString(strings.Join(desc, "; ")))
	for i := 0; i <= 4; i++ {
		y := float64(top) + h - h*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, y, width-right, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, trim(top1*float64(i)/4))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, left, height-6, template.HTMLEscapeString(unit))
	for _, l := range lines {
		if len(l.Values) == 0 {
			continue
		}
		var pts []string
		for i, v := range l.Values {
			x := float64(left) + w*float64(i+n-len(l.Values))/math.Max(float64(n-1), 1)
			y := float64(top) + h - h*v/top1
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s</title></polyline>`, template.HTMLEscapeString(l.Class),
			strings.Join(pts, " "), template.HTMLEscapeString(l.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a chart's maximum up to 1, 2 or 5 times a power of ten
// (at least 1), so the axis reads in round numbers.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trim(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	if v < 0.01 {
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func id(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return "c-" + b.String()
}
