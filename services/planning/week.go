package planning

import (
	"fmt"
	"strconv"
	"time"
)

// Week is an ISO 8601 week, Monday 00:00 to Sunday 24:00 UTC, written
// YYYY-Www ("2026-W50"): the bucket of forecasts, sales and accuracy. Its
// text sorts in time order.
type Week string

// WeekOf is the week t falls in.
func WeekOf(t time.Time) Week {
	y, w := t.UTC().ISOWeek()
	return Week(fmt.Sprintf("%04d-W%02d", y, w))
}

// ParseWeek reads a week written YYYY-Www and checks it exists (week 53
// only in long years).
func ParseWeek(s string) (Week, error) {
	if len(s) != 8 || s[4] != '-' || s[5] != 'W' {
		return "", fmt.Errorf("%q is not an ISO 8601 week: write it YYYY-Www, e.g. 2026-W50", s)
	}
	y, err1 := strconv.Atoi(s[:4])
	n, err2 := strconv.Atoi(s[6:])
	if err1 != nil || err2 != nil || n < 1 || n > 53 {
		return "", fmt.Errorf("%q is not an ISO 8601 week: write it YYYY-Www, e.g. 2026-W50", s)
	}
	start := weekStart(y, n)
	if WeekOf(start) != Week(s) {
		return "", fmt.Errorf("%q does not exist: %d has 52 ISO weeks", s, y)
	}
	return Week(s), nil
}

// weekStart is the Monday of ISO week n of year y: 4 January is always in
// week 1 (ISO 8601 §3.2.2).
func weekStart(y, n int) time.Time {
	jan4 := time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(n-1))
}

// Start is the week's Monday, 00:00 UTC; the zero time for a malformed week.
func (w Week) Start() time.Time {
	if len(w) != 8 {
		return time.Time{}
	}
	y, _ := strconv.Atoi(string(w[:4]))
	n, _ := strconv.Atoi(string(w[6:]))
	return weekStart(y, n)
}

// Add is the week n weeks after w (before it for negative n).
func (w Week) Add(n int) Week { return WeekOf(w.Start().AddDate(0, 0, 7*n)) }
