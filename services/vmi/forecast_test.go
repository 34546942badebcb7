package vmi

import (
	"testing"
	"time"

	"github.com/crossdock/crossdock/services/planning"
)

func TestTheForecastRuleSetsLevelsFromTheForecastInForce(t *testing.T) {
	// 2026-W10 runs from Monday 2 March; Saturday 7 March 00:00 leaves two
	// days of it (20 a day from 140 a week), then 2026-W11 at 40 a day.
	sat := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	both := &planning.Forecast{Weeks: map[planning.Week]planning.Quantity{"2026-W10": {Units: 140, Version: 1}, "2026-W11": {Units: 280, Version: 1}}}
	thisWeekOnly := &planning.Forecast{Weeks: map[planning.Week]planning.Quantity{"2026-W10": {Units: 140, Version: 1}}}
	pos := &Position{OnHand: 30, Demand: 10, Observed: 3}
	max := int64(100)
	tests := []struct {
		name     string
		par      Params
		want     Levels
		quantity int64
	}{
		{"a forecast covering lead time and review period sets both levels: lead 40 + safety 40, lead and review 80 + safety 40",
			Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.95, CasePack: 1, Forecast: both, Now: sat, SafetyDays: 2},
			Levels{Reorder: 80, Target: 120, Rule: RuleForecast}, 90},
		{"a forecast that ends inside the review period falls back to reported demand",
			Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.95, CasePack: 1, Forecast: thisWeekOnly, Now: sat, SafetyDays: 2},
			Levels{Reorder: 20, Target: 30, Rule: RuleReportedDemand}, 0},
		{"no forecast is today's rule on reported demand",
			Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.95, CasePack: 1},
			Levels{Reorder: 20, Target: 30, Rule: RuleReportedDemand}, 0},
		{"the agreement's max still caps the forecast's target",
			Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.95, CasePack: 1, Forecast: both, Now: sat, SafetyDays: 2, Max: &max},
			Levels{Reorder: 80, Target: 100, Rule: RuleForecast}, 70},
		{"no safety days is the forecast's demand alone, in whole cases of 12",
			Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.95, CasePack: 12, Forecast: both, Now: sat},
			Levels{Reorder: 40, Target: 80, Rule: RuleForecast}, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(pos, tc.par)
			if round2(got.Reorder) != tc.want.Reorder || round2(got.Target) != tc.want.Target || got.Rule != tc.want.Rule || got.Quantity != tc.quantity {
				t.Errorf("Evaluate = reorder %v, target %v, rule %s, quantity %d; want %v, %v, %s, %d",
					got.Reorder, got.Target, got.Rule, got.Quantity, tc.want.Reorder, tc.want.Target, tc.want.Rule, tc.quantity)
			}
		})
	}
}
