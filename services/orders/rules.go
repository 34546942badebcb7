package orders

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Decision is what the rules make of a placed order.
type Decision struct {
	State     string        // accepted, held or rejected
	Problems  []bus.Problem // every rule the order breaks, when rejected
	ReleaseAt time.Time     // when held: the start of the next ordering day
	Warehouse string        // the warehouse serving the ship-to location
}

// Decide applies an account's rules of engagement to an order taken at
// `at` (the hub's clock: when JetStream stored the order, the same on every
// redelivery). It lists every rule the order breaks, not just the
// first, so that a customer can fix them all at once. An order outside the
// ordering days that breaks no other rule is held to the next ordering day;
// its lead time is counted from that day, the day it is taken.
func Decide(at time.Time, acct *accounts.Account, pol accounts.Policy, p *Placed) Decision {
	var d Decision
	reject := func(code, field, format string, args ...any) {
		d.Problems = append(d.Problems, bus.Problem{Code: code, Message: fmt.Sprintf(format, args...), Field: field})
	}

	if loc, ok := acct.Location(p.ShipTo); !ok {
		reject(bus.CodeUnknownShipTo, "ship_to", "%s is not a location of account %s", p.ShipTo, acct.ID)
	} else {
		d.Warehouse = loc.Warehouse
		if !pol.AllowsShipTo(loc.Type) {
			reject(bus.CodeShipToNotDC, "ship_to", "%s is a %s; the %s tier delivers to %s only",
				p.ShipTo, loc.Type, acct.Tier, strings.Join(pol.ShipTo, ", "))
		}
	}
	if p.Pickup == "factory" && !pol.FactoryPickup {
		reject(bus.CodeNotInTierMenu, "pickup", "factory pickup is not offered to the %s tier", acct.Tier)
	}

	taken := at.UTC()
	if req, err := time.Parse(time.DateOnly, p.RequestedDate); err == nil && req.Before(day(taken)) {
		reject(bus.CodeRequestedDatePast, "requested_date", "%s is before %s, the day (UTC) the hub received the order",
			p.RequestedDate, taken.Format(time.DateOnly))
	}
	if !pol.OrderDays.Contains(taken.Weekday()) {
		d.ReleaseAt = pol.OrderDays.Next(taken)
		taken = d.ReleaseAt
	}
	lead := LeadDays(taken, p.RequestedDate)
	if units, min := p.Units(), pol.MinOrder(lead); units < float64(min) {
		reject(bus.CodeBelowMinimumOrder, "lines", "the order has %s units; with a lead time of %d days the %s tier needs at least %d",
			formatUnits(units), lead, acct.Tier, min)
	}

	switch {
	case len(d.Problems) > 0:
		d.State, d.ReleaseAt = StateRejected, time.Time{}
	case !d.ReleaseAt.IsZero():
		d.State = StateHeld
	default:
		d.State = StateAccepted
	}
	return d
}

// LeadDays is the whole days from the day an order is taken to its requested
// date (YYYY-MM-DD, validated by the schema); a date in the past counts as 0.
func LeadDays(taken time.Time, requested string) int {
	req, err := time.Parse(time.DateOnly, requested)
	if err != nil {
		return 0
	}
	return max(0, int(req.Sub(day(taken)).Hours()/24))
}

// day is the start of t's day in UTC.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func formatUnits(u float64) string {
	if u == math.Trunc(u) {
		return fmt.Sprintf("%d", int64(u))
	}
	return fmt.Sprintf("%g", u)
}

// heldReason is the reason an order.held gives.
func heldReason(pol accounts.Policy, releaseAt time.Time) string {
	days := make([]string, len(pol.OrderDays))
	for i, d := range pol.OrderDays {
		days[i] = strings.ToLower(d.String()[:3])
	}
	return fmt.Sprintf("%s: orders are taken on %s (UTC); held until %s",
		bus.CodeOutsideOrderWindow, strings.Join(days, ", "), releaseAt.Format(time.DateOnly))
}
