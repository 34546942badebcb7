package scorecard

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/orders"
)

// The fixture: ISO week 2026-W47 (Monday 16 to Sunday 22 November 2026),
// seen on Wednesday 25 November at noon. The figures the tests expect were
// computed by hand from it (docs/scorecard.md has the definitions).
var (
	weekFrom = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	asOf     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func at(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }

// fixtureOrder is an order placed at placed, decided state (accepted, held
// then released, rejected), with dispatches of the given units at times.
func fixtureOrder(po string, placed time.Time, state string, requested string, units float64, ships ...orders.Dispatch) *orders.Order {
	o := &orders.Order{
		Placed:        orders.Placed{PONumber: po, ShipTo: "0614141000005", RequestedDate: requested, Lines: []orders.Line{{Line: 1, GTIN: "00614141123452", Quantity: units, Unit: "EA"}}},
		Account:       "acme",
		PlacedEventID: "ev-" + po,
		State:         state,
	}
	switch state {
	case "held-released":
		o.State = orders.StateAccepted
		o.History = []orders.Change{{At: placed, State: orders.StateHeld, EventID: o.PlacedEventID}, {At: placed.Add(12 * time.Hour), State: orders.StateAccepted, EventID: o.PlacedEventID, Note: "released on its ordering day"}}
	default:
		o.History = []orders.Change{{At: placed, State: state, EventID: o.PlacedEventID}}
	}
	for i, d := range ships {
		d.ShipmentID, d.EventID = po+"-S"+string(rune('1'+i)), po+"-ship"+string(rune('1'+i))
		o.Dispatches = append(o.Dispatches, d)
		o.Shipments = append(o.Shipments, d.ShipmentID)
		o.History = append(o.History, orders.Change{At: d.At, State: orders.StateShipped, EventID: d.EventID})
		o.State = orders.StateShipped
	}
	return o
}

func rejectedOrder(po string, placed time.Time, codes ...string) *orders.Order {
	o := fixtureOrder(po, placed, orders.StateRejected, "2026-12-01", 1)
	for _, c := range codes {
		o.Reasons = append(o.Reasons, bus.Problem{Code: c, Message: c, Field: "lines"})
	}
	return o
}

// fixtureOrders are acme's orders around week 47.
func fixtureOrders() []*orders.Order {
	return []*orders.Order{
		fixtureOrder("A", at(16, 10), orders.StateAccepted, "2026-11-18", 100, orders.Dispatch{At: at(17, 10), Units: 100}),
		fixtureOrder("B", at(17, 8), orders.StateAccepted, "2026-11-18", 50, orders.Dispatch{At: at(19, 8), Units: 40}),
		fixtureOrder("C", at(18, 12), "held-released", "2026-11-30", 30),
		rejectedOrder("D", at(19, 9), "below_minimum_order", "ship_to_not_dc"),
		rejectedOrder("E", at(20, 9), "ship_to_not_dc", "ship_to_not_dc"),
		fixtureOrder("F", at(21, 0), orders.StateAccepted, "2026-11-22", 20),
		fixtureOrder("G", at(15, 23), orders.StateAccepted, "2026-12-10", 7), // the week before
		fixtureOrder("H", at(23, 0), orders.StateAccepted, "2026-12-10", 9),  // the week after
		fixtureOrder("I", at(22, 6), orders.StateAccepted, "2026-11-24", 10, orders.Dispatch{At: at(23, 6), Units: 6}, orders.Dispatch{At: at(24, 6), Units: 6}),
	}
}

// fixtureReplenishments are acme's replenishments around week 47.
func fixtureReplenishments() []Replenishment {
	return []Replenishment{
		{ID: "R1", Location: "L1", GTIN: "X", RequestedAt: at(17, 10), ShippedAt: at(19, 10)},
		{ID: "R2", Location: "L1", GTIN: "Y", RequestedAt: at(20, 12), ShippedAt: at(21, 0)},
		{ID: "R3", Location: "L2", GTIN: "X", RequestedAt: at(12, 9), ShippedAt: at(17, 6)},
		{ID: "R4", Location: "L2", GTIN: "Y", RequestedAt: at(22, 8)},
	}
}

func near(a *float64, want float64) bool { return a != nil && math.Abs(*a-want) < 1e-9 }

func TestOrderFiguresOfTheFixtureWeek(t *testing.T) {
	f := OrderFigures(fixtureOrders(), weekFrom, weekFrom.AddDate(0, 0, 7), asOf)
	checks := []struct {
		name string
		ok   bool
	}{
		{"seven orders were placed in the week (G before it, H after it)", f.Placed == 7},
		{"four were accepted at once, one held, two rejected", f.Accepted == 4 && f.Held == 1 && f.Rejected == 2},
		{"the shares are of the orders placed", near(f.AcceptedShare, 4.0/7) && near(f.HeldShare, 1.0/7) && near(f.RejectedShare, 2.0/7)},
		{"ship_to_not_dc is the top reason, counted once per order", slices.Equal(f.TopRejectionReasons, []Reason{{"ship_to_not_dc", 2}, {"below_minimum_order", 1}})},
		{"five orders were taken, for 210 units", f.Taken == 5 && f.UnitsOrdered == 210},
		{"150 units shipped: I's over-shipment counts up to its 10 units", f.UnitsShipped == 150 && near(f.FillRate, 150.0/210)},
		{"four orders are due (C's date is still ahead) and two shipped on time", f.Due == 4 && f.OnTime == 2 && near(f.OnTimeRate, 0.5)},
		{"three shipped, in 24, 48 and 24 hours: p50 24, p90 48", f.Shipped == 3 && near(f.CycleHours.P50, 24) && near(f.CycleHours.P90, 48)},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: figures %+v", c.name, f)
		}
	}
}

func TestVMIFiguresOfTheFixtureWeek(t *testing.T) {
	v := VMIFigures(fixtureReplenishments(), weekFrom, weekFrom.AddDate(0, 0, 7), asOf)
	want := VMI{Requested: 3, Shipped: 2, DaysBelowReorderPoint: 8, ItemsBelow: 4}
	got := *v
	got.LeadHours = Quantile{}
	if got != want {
		t.Errorf("VMIFigures = %+v, want %+v", got, want)
	}
	if !near(v.LeadHours.P50, 12) || !near(v.LeadHours.P90, 48) {
		t.Errorf("lead time p50 %v p90 %v, want 12 and 48 hours", v.LeadHours.P50, v.LeadHours.P90)
	}
}

func TestFiguresOfAnEmptyPeriodAreNull(t *testing.T) {
	f := OrderFigures(nil, weekFrom, weekFrom.AddDate(0, 0, 7), asOf)
	if f.FillRate != nil || f.OnTimeRate != nil || f.AcceptedShare != nil || f.CycleHours.P50 != nil || f.TopRejectionReasons == nil {
		t.Errorf("figures of nothing = %+v, want null rates and an empty reason list", f)
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name     string
		p        Period
		t        time.Time
		from, to time.Time
		label    string
	}{
		{"a Wednesday's week starts on the Monday before", Week, at(18, 15), at(16, 0), at(23, 0), "2026-W47"},
		{"a Sunday belongs to the week of the Monday before it", Week, at(22, 23), at(16, 0), at(23, 0), "2026-W47"},
		{"a Monday starts its own week", Week, at(23, 0), at(23, 0), at(30, 0), "2026-W48"},
		{"a week across the new year is ISO week 53 of 2026", Week, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC), "2026-W53"},
		{"a month runs from its first day to the next month's", Month, at(18, 15), at(1, 0), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), "2026-11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from, to := Window(tc.p, tc.t)
			if !from.Equal(tc.from) || !to.Equal(tc.to) || label(tc.p, from) != tc.label {
				t.Errorf("Window(%s, %v) = %v, %v (%s); want %v, %v (%s)", tc.p, tc.t, from, to, label(tc.p, from), tc.from, tc.to, tc.label)
			}
		})
	}
}
