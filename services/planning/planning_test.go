package planning

import (
	"testing"
	"time"
)

func TestWeeksAreISOWeeks(t *testing.T) {
	tests := []struct {
		name, in string
		start    time.Time
		err      bool
	}{
		{"week 10 of 2026 starts on Monday 2 March", "2026-W10", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), false},
		{"week 1 of 2026 starts in 2025 (4 January is a Sunday)", "2026-W01", time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC), false},
		{"2026 has 53 weeks", "2026-W53", time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC), false},
		{"2027 has no week 53", "2027-W53", time.Time{}, true},
		{"a date is not a week", "2026-03-02", time.Time{}, true},
		{"week zero does not exist", "2026-W00", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWeek(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseWeek(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if err == nil && !w.Start().Equal(tc.start) {
				t.Errorf("ParseWeek(%q).Start() = %v, want %v", tc.in, w.Start(), tc.start)
			}
		})
	}
	if got := Week("2026-W53").Add(1); got != "2027-W01" {
		t.Errorf("2026-W53 + 1 = %s, want 2027-W01", got)
	}
}

func TestDemandSpreadsEachWeekOverItsDays(t *testing.T) {
	f := &Forecast{Weeks: map[Week]Quantity{"2026-W10": {Units: 70}, "2026-W11": {Units: 140}}}
	sunNoon := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		from time.Time
		days float64
		want float64
		ok   bool
	}{
		{"two days inside one week are two sevenths of it", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), 2, 20, true},
		{"a span across Sunday midnight takes each week's rate", sunNoon, 1, 5 + 10, true},
		{"a span past the last forecast week is not covered", sunNoon, 9, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := f.Demand(tc.from, tc.days)
			if ok != tc.ok || round4(got) != tc.want {
				t.Errorf("Demand(%v, %v) = %v, %v; want %v, %v", tc.from, tc.days, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestExceedsIsAShareOfTheForecast(t *testing.T) {
	tests := []struct {
		name             string
		actual, forecast int64
		want             bool
	}{
		{"25% short of the forecast is within a 25% threshold", 75, 100, false},
		{"26% short is an exception", 74, 100, true},
		{"26% over is an exception", 126, 100, true},
		{"any sale against a zero forecast is an exception", 1, 0, true},
		{"no sale against a zero forecast is none", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exceeds(tc.actual, tc.forecast, 0.25); got != tc.want {
				t.Errorf("exceeds(%d, %d, 0.25) = %v, want %v", tc.actual, tc.forecast, got, tc.want)
			}
		})
	}
}

func ptr(n int64) *int64 { return &n }

func TestMeasureWeighsErrorsBySales(t *testing.T) {
	// Complete weeks before 2026-W15 (now): W11..W14 are the last 4, W02..W14
	// the last 13. W15 is not complete; W05 has no forecast; W06 no report.
	a := &Actuals{Weeks: map[Week]*WeekSales{
		"2026-W05": {Sold: 500, Reports: 1},
		"2026-W06": {Sold: 0, Reports: 0, Forecast: ptr(100)},
		"2026-W10": {Sold: 80, Reports: 2, Forecast: ptr(100)},
		"2026-W11": {Sold: 130, Reports: 1, Forecast: ptr(100)},
		"2026-W14": {Sold: 50, Reports: 1, Forecast: ptr(40)},
		"2026-W15": {Sold: 10, Reports: 1, Forecast: ptr(70)},
	}}
	now := time.Date(2026, 4, 8, 0, 0, 0, 0, time.UTC) // 2026-W15
	span := Measure(a, now)
	span.finish()
	// Last 4: W11 (F100 A130) and W14 (F40 A50): |e| 30+10 = 40 over 180
	// sold; bias (-30-10)/180.
	// Last 13: W10 too (F100 A80): |e| 60 over 260; bias (20-40)/260.
	tests := []struct {
		window              string
		weeks               int
		absErr, actual      int64
		wantWMAPE, wantBias float64
	}{
		{"last_4_weeks", 2, 40, 180, 0.2222, -0.2222},
		{"last_13_weeks", 3, 60, 260, 0.2308, -0.0769},
	}
	for _, tc := range tests {
		t.Run(tc.window+" weighs each week by its sales", func(t *testing.T) {
			f := span[tc.window]
			if f.Weeks != tc.weeks || f.AbsError != tc.absErr || f.Actual != tc.actual || *f.WMAPE != tc.wantWMAPE || *f.Bias != tc.wantBias {
				t.Errorf("%s = %+v (wmape %v, bias %v); want %d weeks, |e| %d, sold %d, wmape %v, bias %v",
					tc.window, *f, *f.WMAPE, *f.Bias, tc.weeks, tc.absErr, tc.actual, tc.wantWMAPE, tc.wantBias)
			}
		})
	}
}
