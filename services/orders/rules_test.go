package orders

import (
	"slices"
	"testing"
	"time"

	"github.com/crossdock/crossdock/services/accounts"
)

func TestDecide(t *testing.T) {
	tiers := accounts.DefaultTiers()
	account := func(tier accounts.Tier) *accounts.Account {
		return &accounts.Account{ID: "acct", Tier: tier, Locations: []accounts.Location{
			{GLN: "0614141000005", Type: accounts.LocationDC, Warehouse: "dc-east"},
			{GLN: "0614141000012", Type: accounts.LocationStore, Warehouse: "dc-west"},
		}}
	}
	order := func(shipTo, requested string, units ...float64) *Placed {
		p := &Placed{PONumber: "PO-1", ShipTo: shipTo, RequestedDate: requested}
		for i, u := range units {
			p.Lines = append(p.Lines, Line{Line: i + 1, GTIN: "00614141123452", Quantity: u, Unit: "EA"})
		}
		return p
	}
	monday := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
	tuesday := monday.AddDate(0, 0, 1)
	nextMonday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	dc, store := "0614141000005", "0614141000012"

	tests := []struct {
		name      string
		tier      accounts.Tier
		at        time.Time
		order     *Placed
		state     string
		codes     []string
		warehouse string
		releaseAt time.Time
	}{
		{name: "a strategic order to a store is accepted and served by the store's warehouse",
			tier: accounts.Strategic, at: tuesday, order: order(store, "2026-11-26", 1), state: StateAccepted, warehouse: "dc-west"},
		{name: "a strategic order may ask for factory pickup",
			tier: accounts.Strategic, at: tuesday, order: func() *Placed { p := order(dc, "2026-11-26", 1); p.Pickup = "factory"; return p }(), state: StateAccepted, warehouse: "dc-east"},
		{name: "an integrated order asking for factory pickup is not in its menu",
			tier: accounts.Integrated, at: tuesday, order: func() *Placed { p := order(dc, "2026-11-26", 1); p.Pickup = "factory"; return p }(), state: StateRejected, codes: []string{"not_in_tier_menu"}},
		{name: "an order to a location the account does not have is rejected",
			tier: accounts.Emerging, at: tuesday, order: order("0614141000029", "2026-11-26", 1), state: StateRejected, codes: []string{"unknown_ship_to"}},
		{name: "a stable order on Monday to a DC with enough units is accepted",
			tier: accounts.Stable, at: monday, order: order(dc, "2026-12-14", 60, 40), state: StateAccepted, warehouse: "dc-east"},
		{name: "a stable order with 14 days of lead time needs 100 units",
			tier: accounts.Stable, at: monday, order: order(dc, "2026-12-07", 99), state: StateRejected, codes: []string{"below_minimum_order"}},
		{name: "a stable order with 7 days of lead time needs 250 units",
			tier: accounts.Stable, at: monday, order: order(dc, "2026-11-30", 249), state: StateRejected, codes: []string{"below_minimum_order"}},
		{name: "a stable order with 7 days of lead time and 250 units is accepted",
			tier: accounts.Stable, at: monday, order: order(dc, "2026-11-30", 250), state: StateAccepted, warehouse: "dc-east"},
		{name: "a stable order for the same day needs 500 units",
			tier: accounts.Stable, at: monday, order: order(dc, "2026-11-23", 499), state: StateRejected, codes: []string{"below_minimum_order"}},
		{name: "an order for a date before the day it arrived is rejected as past",
			tier: accounts.Strategic, at: monday, order: order(dc, "2026-11-22", 1), state: StateRejected, codes: []string{"requested_date_past"}},
		{name: "an order for the day it arrived, late in the day (UTC), is not past",
			tier: accounts.Strategic, at: time.Date(2026, 11, 23, 23, 59, 59, 0, time.UTC), order: order(dc, "2026-11-23", 1), state: StateAccepted, warehouse: "dc-east"},
		{name: "an order's arrival is taken in UTC whatever the clock's zone",
			tier: accounts.Strategic, at: time.Date(2026, 11, 24, 1, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), order: order(dc, "2026-11-23", 1), state: StateAccepted, warehouse: "dc-east"},
		{name: "a held order for a date between its arrival and its release is not past",
			tier: accounts.Stable, at: tuesday, order: order(dc, "2026-11-25", 500), state: StateHeld, warehouse: "dc-east", releaseAt: nextMonday},
		{name: "a stable order to a store is rejected as not a DC",
			tier: accounts.Stable, at: monday, order: order(store, "2026-12-14", 100), state: StateRejected, codes: []string{"ship_to_not_dc"}},
		{name: "a stable order on Tuesday is held until Monday",
			tier: accounts.Stable, at: tuesday, order: order(dc, "2026-12-14", 100), state: StateHeld, warehouse: "dc-east", releaseAt: nextMonday},
		{name: "a held order's lead time counts from its ordering day",
			tier: accounts.Stable, at: tuesday, order: order(dc, "2026-12-08", 200), state: StateRejected, codes: []string{"below_minimum_order"}},
		{name: "a stable order breaking every rule lists every rule",
			tier: accounts.Stable, at: tuesday, order: func() *Placed { p := order(store, "2026-11-24", 1); p.Pickup = "factory"; return p }(),
			state: StateRejected, codes: []string{"ship_to_not_dc", "not_in_tier_menu", "below_minimum_order"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acct := account(tc.tier)
			d := Decide(tc.at, acct, tiers[tc.tier], tc.order)
			if d.State != tc.state {
				t.Fatalf("state = %s, want %s (problems %v)", d.State, tc.state, d.Problems)
			}
			var codes []string
			for _, p := range d.Problems {
				codes = append(codes, p.Code)
				if p.Message == "" || p.Field == "" {
					t.Errorf("problem %+v lacks a message or field", p)
				}
			}
			if !slices.Equal(codes, tc.codes) {
				t.Errorf("codes = %v, want %v", codes, tc.codes)
			}
			if tc.warehouse != "" && d.Warehouse != tc.warehouse {
				t.Errorf("warehouse = %q, want %q", d.Warehouse, tc.warehouse)
			}
			if !d.ReleaseAt.Equal(tc.releaseAt) {
				t.Errorf("release at = %v, want %v", d.ReleaseAt, tc.releaseAt)
			}
		})
	}
}

func TestLeadDays(t *testing.T) {
	taken := time.Date(2026, 11, 23, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		requested string
		want      int
	}{
		{"2026-11-23", 0}, {"2026-11-24", 1}, {"2026-12-07", 14}, {"2026-11-01", 0}, {"not a date", 0},
	}
	for _, tc := range tests {
		if got := LeadDays(taken, tc.requested); got != tc.want {
			t.Errorf("LeadDays(%v, %q) = %d, want %d", taken, tc.requested, got, tc.want)
		}
	}
}
