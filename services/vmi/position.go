// Package vmi is the vendor-managed inventory service: it turns customers'
// crossdock.inventory.reported.v1 into positions (per account, location and
// GTIN, in a KV bucket) and, continuously for strategic accounts or once a
// day at the cutoff for integrated ones, into
// crossdock.replenishment.requested.v1 for the warehouse that serves the
// location, with a copy to the customer. Warehouses' shipments of a
// replenishment move it from open to on order; the next report that shows it
// received closes it.
package vmi

import (
	"math"
	"time"

	"github.com/crossdock/crossdock/services/planning"
)

// Params is the replenishment policy of one position: the account's effective
// tier policy with the VMI agreement's per-item overrides applied.
type Params struct {
	LeadDays     float64 // days from request to receipt
	ReviewDays   float64 // days between evaluations the target must cover
	ServiceLevel float64 // probability of not running out during the lead time
	CasePack     int64   // quantities are multiples of it; 0 or 1 means units
	Min          *int64  // reorder point override from the VMI agreement
	Max          *int64  // order-up-to override from the VMI agreement
	// Alpha is the smoothing constant of daily demand per day of elapsed
	// time; zero means DefaultAlpha.
	Alpha float64
	// Forecast, for an account with shared planning, is the item's forecast
	// in force at the location; nil plans on reported demand alone.
	Forecast *planning.Forecast
	// Now is when the forecast's demand is counted from (the report's
	// as_of, or the scheduled run's time).
	Now time.Time
	// SafetyDays is the safety stock of the forecast rule in days of the
	// forecast's daily demand over the lead time.
	SafetyDays float64
}

// Rules that set a position's levels, as the replenishment event names them.
const (
	RuleForecast       = "forecast"
	RuleReportedDemand = "reported_demand"
)

// DefaultAlpha weighs a day's observed demand against the smoothed history:
// 0.2 reacts within about a week and ignores single odd days.
const DefaultAlpha = 0.2

// Replenishment is the hub's one open replenishment of a position.
type Replenishment struct {
	ID          string    `json:"id"`
	Quantity    int64     `json:"quantity"`           // requested
	Shipped     int64     `json:"shipped"`            // dispatched so far
	Cause       string    `json:"cause"`              // report id or scheduled run that made it
	Warehouse   string    `json:"warehouse"`          // who was asked
	RequestedAt time.Time `json:"requested_at"`       // hub clock
	Position    int64     `json:"position"`           // inventory position when it was requested
	Reorder     float64   `json:"reorder_point"`      // reorder point then
	Target      float64   `json:"target"`             // order-up-to level then
	Rule        string    `json:"rule,omitempty"`     // the rule that set them
	ShipmentIDs []string  `json:"shipments,omitzero"` // shipments counted
}

// Unshipped is the part of the replenishment the warehouse has not dispatched.
func (r *Replenishment) Unshipped() int64 { return max(0, r.Quantity-r.Shipped) }

// Position is what the hub knows about one item at one location.
type Position struct {
	Account  string         `json:"account"`
	Location string         `json:"location"` // GLN
	GTIN     string         `json:"gtin"`     // GTIN-14
	OnHand   int64          `json:"on_hand"`
	OnOrder  int64          `json:"customer_on_order"` // the customer's own open orders, as reported
	Transit  int64          `json:"in_transit"`        // shipped replenishments not yet received
	Open     *Replenishment `json:"open,omitempty"`
	Demand   float64        `json:"demand"`    // smoothed units per day
	Variance float64        `json:"variance"`  // smoothed variance of daily demand
	Observed int            `json:"observed"`  // demand observations so far
	AsOf     time.Time      `json:"as_of"`     // as_of of the latest report applied
	ReportID string         `json:"report_id"` // id of the latest report applied
	// Recent are the last shipment ids counted, so that a redelivered or
	// late shipment is counted once.
	Recent []string `json:"recent_shipments,omitzero"`
}

// Deviation is the standard deviation of daily demand.
func (p *Position) Deviation() float64 { return math.Sqrt(p.Variance) }

// InventoryPosition is on hand + on order (the customer's and in transit) +
// the hub's open (unshipped) replenishment.
func (p *Position) InventoryPosition() int64 {
	ip := p.OnHand + p.OnOrder + p.Transit
	if p.Open != nil {
		ip += p.Open.Unshipped()
	}
	return ip
}

// Item is one line of an inventory report.
type Item struct {
	GTIN          string `json:"gtin"`
	OnHand        int64  `json:"on_hand"`
	OnOrder       *int64 `json:"on_order,omitempty"`
	SoldSinceLast *int64 `json:"sold_since_last,omitempty"`
}

// Observe applies one report line taken at asOf to the position. A report
// older than the latest applied one changes nothing (it returns false):
// reports may arrive out of order and must not move a position back. A report
// at the same as_of replaces the counts but is no new demand observation.
//
// Demand per day is sold_since_last over the days since the previous report
// or, without sales, the fall of on hand net of receipts. Receipts are what
// the report shows arrived: on hand rose by more than was sold. They are
// counted against the hub's shipments in transit first; a receipt that covers
// all of them closes the open replenishment.
func (p *Position) Observe(it Item, asOf time.Time, reportID string, alpha float64) bool {
	if alpha <= 0 {
		alpha = DefaultAlpha
	}
	first := p.ReportID == ""
	if !first && asOf.Before(p.AsOf) {
		return false
	}
	days := asOf.Sub(p.AsOf).Hours() / 24
	if !first {
		rise := it.OnHand - p.OnHand
		var received, sold int64
		if it.SoldSinceLast != nil {
			sold = *it.SoldSinceLast
			received = max(0, rise+sold)
		} else if rise > 0 {
			// Stock rises only by receipts: take the shipments in transit as
			// arrived, and what they do not explain as sold.
			received = max(rise, p.Transit)
			sold = received - rise
		} else {
			sold = -rise
		}
		counted := min(received, p.Transit)
		p.Transit -= counted
		if p.Transit == 0 && p.Open != nil && p.Open.Shipped > 0 && received > 0 {
			// Received: closed. What the warehouse did not ship is dropped:
			// a short shipment is final, and the next evaluation asks again.
			p.Open = nil
		}
		if days > 0 {
			p.observeDemand(float64(sold)/days, days, alpha)
		}
	}
	p.OnHand = it.OnHand
	if it.OnOrder != nil {
		p.OnOrder = *it.OnOrder
	}
	p.AsOf = asOf
	p.ReportID = reportID
	return true
}

// observeDemand smooths daily demand d observed over days. The smoothing
// constant is compounded per day (1-(1-alpha)^days), so that one report after
// a week weighs as much as seven daily ones. The first observation seeds the
// level with no deviation.
func (p *Position) observeDemand(d, days, alpha float64) {
	if p.Observed == 0 {
		p.Demand, p.Variance = d, 0
		p.Observed = 1
		return
	}
	a := 1 - math.Pow(1-alpha, days)
	e := d - p.Demand
	p.Demand += a * e
	p.Variance = (1 - a) * (p.Variance + a*e*e)
	p.Observed++
}

// Levels are a position's reorder point and order-up-to level, and the rule
// that set them.
type Levels struct {
	Reorder float64 `json:"reorder_point"`
	Target  float64 `json:"target"`
	Rule    string  `json:"rule"`
}

// LevelsOf computes the reorder point (demand × lead time + z × deviation ×
// √lead time) and the order-up-to level (reorder point + demand × review
// period); the agreement's min replaces the reorder point and its max the
// target.
//
// With a forecast that covers every week from par.Now to the end of the lead
// time and review period, the forecast rule applies instead (docs/planning.md):
// safety stock = SafetyDays × the forecast's daily demand over the lead time;
// reorder point = the forecast's demand over the lead time + safety stock;
// target = the forecast's demand over the lead time and review period +
// safety stock.
func LevelsOf(p *Position, par Params) Levels {
	l := Levels{Rule: RuleReportedDemand}
	lead, ok1 := par.Forecast.Demand(par.Now, par.LeadDays)
	cover, ok2 := par.Forecast.Demand(par.Now, par.LeadDays+par.ReviewDays)
	if ok1 && ok2 {
		safety := par.SafetyDays * lead / par.LeadDays
		l.Reorder, l.Target, l.Rule = lead+safety, cover+safety, RuleForecast
	} else {
		l.Reorder = p.Demand*par.LeadDays + Z(par.ServiceLevel)*p.Deviation()*math.Sqrt(par.LeadDays)
		l.Target = l.Reorder + p.Demand*par.ReviewDays
	}
	if par.Min != nil {
		l.Reorder = float64(*par.Min)
	}
	if par.Max != nil {
		l.Target = float64(*par.Max)
		l.Reorder = min(l.Reorder, l.Target)
	}
	l.Target = max(l.Target, l.Reorder)
	return l
}

// Decision is the outcome of evaluating a position.
type Decision struct {
	Levels
	Position int64 // inventory position evaluated
	Quantity int64 // units to request; 0 means none
}

// Evaluate decides whether the position needs a replenishment and of how
// much: when the inventory position is at or below the reorder point, enough
// to bring it to the target, rounded up to the case pack (down, to whole
// cases, where that would pass the agreement's max, but never to nothing). A
// position with an open replenishment gets none: never two at once.
func Evaluate(p *Position, par Params) Decision {
	d := Decision{Levels: LevelsOf(p, par), Position: p.InventoryPosition()}
	if p.Open != nil {
		return d
	}
	ip := float64(d.Position)
	if ip > d.Reorder {
		return d
	}
	need := int64(math.Ceil(d.Target - ip - 1e-9))
	if need <= 0 {
		return d
	}
	pack := max(par.CasePack, 1)
	q := (need + pack - 1) / pack * pack
	if par.Max != nil && d.Position+q > *par.Max {
		if down := (*par.Max - d.Position) / pack * pack; down > 0 {
			q = down
		} else {
			q = pack
		}
	}
	d.Quantity = q
	return d
}
