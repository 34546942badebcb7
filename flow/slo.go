package flow

import (
	"time"
)

// BurnAlert is one rule of the multiwindow, multi-burn-rate alerting of the
// Google SRE workbook ("Alerting on SLOs", recommendation 6): it fires when
// the error budget burns faster than Threshold times the sustainable rate
// over both the Long window and the Short one, the short one making the
// alert stop soon after the burning stops.
type BurnAlert struct {
	Severity  string        `json:"severity"` // page or ticket
	Long      time.Duration `json:"long"`
	Short     time.Duration `json:"short"`
	Threshold float64       `json:"threshold"`
}

// BurnAlerts are the workbook's two rules for a 30-day objective: page
// when 2% of the month's budget goes in an hour (14.4x), ticket when 5%
// goes in six hours (6x).
var BurnAlerts = []BurnAlert{
	{Severity: "page", Long: time.Hour, Short: 5 * time.Minute, Threshold: 14.4},
	{Severity: "ticket", Long: 6 * time.Hour, Short: 30 * time.Minute, Threshold: 6},
}

// BurnWindows are the windows burn rates are computed over: every window
// of BurnAlerts.
var BurnWindows = []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 6 * time.Hour}

// BurnRate is how many times faster than sustainable the error budget of
// objective burns at this error rate: 1 spends exactly the budget over the
// SLO's period, 14.4 spends a 30-day budget in about two days.
func BurnRate(errorRate, objective float64) float64 {
	if objective <= 0 || objective >= 1 {
		return 0
	}
	return errorRate / (1 - objective)
}

// Burn is a burn rate over one window.
type Burn struct {
	Window string  `json:"window"`
	Rate   float64 `json:"rate"`
	Orders uint64  `json:"orders"` // orders answered (or found unanswered) in the window
}

// Breach is an alert rule that fires.
type Breach struct {
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
}

// breaches returns the rules of BurnAlerts that fire for these burn rates
// (by window).
func breaches(rates map[time.Duration]float64) []Breach {
	var out []Breach
	for _, a := range BurnAlerts {
		long, short := rates[a.Long], rates[a.Short]
		if long > a.Threshold && short > a.Threshold {
			out = append(out, Breach{Severity: a.Severity, Reason: burnReason(a, long, short)})
		}
	}
	return out
}

func burnReason(a BurnAlert, long, short float64) string {
	return "error budget burning " + fmtRate(long) + "x over " + fmtWindow(a.Long) + " and " + fmtRate(short) + "x over " +
		fmtWindow(a.Short) + " (threshold " + fmtRate(a.Threshold) + "x)"
}

func fmtWindow(d time.Duration) string {
	if d >= time.Hour {
		return trimZero(d.Hours()) + "h"
	}
	return trimZero(d.Minutes()) + "m"
}
