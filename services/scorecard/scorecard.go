// Package scorecard computes an account's scorecard per ISO week or month
// from the hub's own state and streams: the orders bucket (orders placed in
// the period, their decisions and shipments) and, for VMI accounts, the
// replenishment requests and shipments in XD_OUT. It serves GET
// /v1/scorecard (JSON and CSV) and the portal's scorecard page. Every figure
// is defined in docs/scorecard.md.
package scorecard

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/crossdock/crossdock/services/orders"
)

// Period is the length of a scorecard: an ISO week or a calendar month.
type Period string

// The periods.
const (
	Week  Period = "week"
	Month Period = "month"
)

// Window returns the period containing t: [Monday 00:00 UTC, next Monday)
// for a week (ISO 8601 weeks start on Monday), [the 1st 00:00 UTC, the next
// 1st) for a month.
func Window(p Period, t time.Time) (from, to time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if p == Month {
		from = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 1, 0)
	}
	from = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	return from, from.AddDate(0, 0, 7)
}

// Card is an account's scorecard for one period.
type Card struct {
	Account string    `json:"account"`
	Period  Period    `json:"period"`
	Label   string    `json:"label"` // 2026-W48 or 2026-11
	From    time.Time `json:"from"`  // the period is [from, to)
	To      time.Time `json:"to"`
	AsOf    time.Time `json:"as_of"` // the clock the figures were computed at
	Orders  Orders    `json:"orders"`
	VMI     *VMI      `json:"vmi,omitempty"` // VMI accounts only
	// Sections are figures other services add (Config.Sections), by name:
	// the planning service's forecast accuracy, for one.
	Sections map[string]any `json:"sections,omitempty"`
}

// Orders are the figures of the orders placed in the period.
type Orders struct {
	Placed   int `json:"placed"`   // orders whose current placement is in the period
	Accepted int `json:"accepted"` // accepted at once
	Held     int `json:"held"`     // held at placement (released or not)
	Rejected int `json:"rejected"` // rejected
	// Shares of Placed; null when nothing was placed.
	AcceptedShare *float64 `json:"accepted_share"`
	HeldShare     *float64 `json:"held_share"`
	RejectedShare *float64 `json:"rejected_share"`
	// TopRejectionReasons are the codes of the rejected orders, the most
	// frequent first (at most five).
	TopRejectionReasons []Reason `json:"top_rejection_reasons"`

	Taken        int      `json:"taken"`         // accepted or shipped now (held ones once released)
	UnitsOrdered float64  `json:"units_ordered"` // of the taken orders
	UnitsShipped float64  `json:"units_shipped"` // of the taken orders, at most each order's units
	FillRate     *float64 `json:"fill_rate"`     // UnitsShipped ÷ UnitsOrdered

	Due        int      `json:"due"`     // taken orders shipped or past their requested date
	OnTime     int      `json:"on_time"` // of those, first shipped by the end of the requested date
	OnTimeRate *float64 `json:"on_time_rate"`
	Shipped    int      `json:"shipped"` // taken orders with a shipment
	CycleHours Quantile `json:"cycle_time_hours"`
}

// Reason is a rejection code and how many rejected orders it was among the
// reasons of.
type Reason struct {
	Code   string `json:"code"`
	Orders int    `json:"orders"`
}

// Quantile is the median and 90th percentile of a set, nearest-rank; null
// for an empty set.
type Quantile struct {
	P50 *float64 `json:"p50"`
	P90 *float64 `json:"p90"`
}

// VMI are the vendor-managed inventory figures of the period.
type VMI struct {
	Requested int      `json:"replenishments_requested"` // requested in the period
	Shipped   int      `json:"replenishments_shipped"`   // of those, shipped (as of now)
	LeadHours Quantile `json:"lead_time_hours"`          // request → first shipment, of those shipped
	// DaysBelowReorderPoint counts (location, GTIN, UTC day) of the period
	// on which the position was at or below its reorder point: from the day
	// a replenishment was requested to the day its first shipment left
	// (docs/scorecard.md).
	DaysBelowReorderPoint int `json:"days_below_reorder_point"`
	// ItemsBelow is how many location-items had at least one such day.
	ItemsBelow int `json:"items_below"`
}

// Replenishment is one replenishment of the account: when it was requested
// and when its first shipment left (zero: not yet).
type Replenishment struct {
	ID          string
	Location    string
	GTIN        string
	RequestedAt time.Time
	ShippedAt   time.Time
}

// maxReasons is how many rejection codes a card lists.
const maxReasons = 5

// OrderFigures computes the orders part of a card from the account's
// orders (any: those placed outside [from, to) are left out), as of asOf.
func OrderFigures(all []*orders.Order, from, to, asOf time.Time) Orders {
	var f Orders
	reasons := map[string]int{}
	var cycles []float64
	for _, o := range all {
		placed := o.PlacedAt()
		if placed.Before(from) || !placed.Before(to) {
			continue
		}
		f.Placed++
		switch {
		case o.State == orders.StateRejected:
			f.Rejected++
			seen := map[string]bool{}
			for _, r := range o.Reasons {
				if !seen[r.Code] {
					seen[r.Code] = true
					reasons[r.Code]++
				}
			}
			continue
		case wasHeld(o):
			f.Held++
		default:
			f.Accepted++
		}
		if o.State != orders.StateAccepted && o.State != orders.StateShipped {
			continue // still held
		}
		f.Taken++
		units := o.Units()
		f.UnitsOrdered += units
		f.UnitsShipped += math.Min(o.ShippedUnits(), units)
		var first time.Time
		if len(o.Dispatches) > 0 {
			first = o.Dispatches[0].At
			for _, d := range o.Dispatches[1:] {
				if d.At.Before(first) {
					first = d.At
				}
			}
			f.Shipped++
			cycles = append(cycles, first.Sub(placed).Hours())
		}
		// Due by the end of the requested date (UTC).
		req, err := time.Parse(time.DateOnly, o.RequestedDate)
		if err != nil {
			continue
		}
		deadline := req.AddDate(0, 0, 1)
		if first.IsZero() && asOf.Before(deadline) {
			continue // not shipped and not yet late
		}
		f.Due++
		if !first.IsZero() && first.Before(deadline) {
			f.OnTime++
		}
	}
	f.AcceptedShare, f.HeldShare, f.RejectedShare = ratio(float64(f.Accepted), float64(f.Placed)), ratio(float64(f.Held), float64(f.Placed)), ratio(float64(f.Rejected), float64(f.Placed))
	f.FillRate = ratio(f.UnitsShipped, f.UnitsOrdered)
	f.OnTimeRate = ratio(float64(f.OnTime), float64(f.Due))
	f.CycleHours = quantiles(cycles)
	f.TopRejectionReasons = []Reason{}
	for code, n := range reasons {
		f.TopRejectionReasons = append(f.TopRejectionReasons, Reason{Code: code, Orders: n})
	}
	slices.SortFunc(f.TopRejectionReasons, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(b.Orders, a.Orders), cmp.Compare(a.Code, b.Code))
	})
	f.TopRejectionReasons = f.TopRejectionReasons[:min(len(f.TopRejectionReasons), maxReasons)]
	return f
}

// wasHeld reports whether the order's current placement was held.
func wasHeld(o *orders.Order) bool {
	for _, c := range o.History {
		if c.EventID == o.PlacedEventID && c.State == orders.StateHeld {
			return true
		}
	}
	return false
}

// VMIFigures computes the VMI part of a card from the account's
// replenishments (any: only those requested in [from, to) count for lead
// time; earlier ones still open count for days below), as of asOf.
func VMIFigures(reps []Replenishment, from, to, asOf time.Time) *VMI {
	v := &VMI{}
	var leads []float64
	days := map[string]map[time.Time]bool{} // location/GTIN → days below
	for _, r := range reps {
		if !r.RequestedAt.Before(from) && r.RequestedAt.Before(to) {
			v.Requested++
			if !r.ShippedAt.IsZero() {
				v.Shipped++
				leads = append(leads, r.ShippedAt.Sub(r.RequestedAt).Hours())
			}
		}
		end := r.ShippedAt
		if end.IsZero() {
			end = asOf
		}
		item := r.Location + "/" + r.GTIN
		for d := dayOf(r.RequestedAt); !d.After(end) && d.Before(to); d = d.AddDate(0, 0, 1) {
			if d.Before(from) {
				continue
			}
			if days[item] == nil {
				days[item] = map[time.Time]bool{}
			}
			days[item][d] = true
		}
	}
	for _, ds := range days {
		v.DaysBelowReorderPoint += len(ds)
	}
	v.ItemsBelow = len(days)
	v.LeadHours = quantiles(leads)
	return v
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ratio is n ÷ d, or nil when d is zero.
func ratio(n, d float64) *float64 {
	if d == 0 {
		return nil
	}
	r := n / d
	return &r
}

// quantiles is the nearest-rank median and 90th percentile: the value at
// rank ⌈p × n⌉ of the sorted set.
func quantiles(xs []float64) Quantile {
	if len(xs) == 0 {
		return Quantile{}
	}
	s := slices.Sorted(slices.Values(xs))
	at := func(p float64) *float64 {
		v := s[max(int(math.Ceil(p*float64(len(s))))-1, 0)]
		return &v
	}
	return Quantile{P50: at(0.5), P90: at(0.9)}
}

// Section is an optional part of a scorecard that another service computes
// (the planning service's forecast accuracy): Name is its key under
// "sections", Compute its figures for the account and period (JSON-encodable;
// nil leaves the section out, e.g. for an account without forecasts).
type Section struct {
	Name    string
	Compute func(ctx context.Context, account string, from, to time.Time) (any, error)
}
