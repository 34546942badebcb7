package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
)

// Decisions of a dry run (CheckResult.Decision): what the order service
// would do with the order if it were placed now.
const (
	DecisionAccept = "accept"
	DecisionHold   = "hold"
	DecisionReject = "reject"
)

// CheckResult is the answer of a dry run of an order (POST
// /v1/orders/check, and the portal's order form): the decision the order
// service would make now, every reason it would give, and the rules of
// engagement it applied, so that a form can show them beside the fields.
type CheckResult struct {
	Decision  string        `json:"decision"`             // accept, hold or reject
	ReleaseAt *time.Time    `json:"release_at,omitempty"` // when held: the start of the next ordering day
	Reasons   []bus.Problem `json:"reasons"`              // every problem, with the API's codes, messages and fields
	Rules     Rules         `json:"rules"`
}

// Rules is a tier's menu and rules of engagement as they apply to one
// account and one order (CONTRACT.md section 4).
type Rules struct {
	Account string        `json:"account"`
	Tier    accounts.Tier `json:"tier"`
	Menu    Menu          `json:"menu"`
	// MinOrderUnits are the minimum-order steps, Applies marking the one
	// that applies to this order's lead time (none when no step does).
	MinOrderUnits []MinStep `json:"min_order_units"`
	// TakenOn is the day the order would be taken: today, or the next
	// ordering day when today is not one. Lead time counts from it.
	TakenOn string `json:"taken_on"`
	// LeadDays is the order's lead time (requested date − TakenOn, whole
	// days, 0 when past); absent while the requested date is not a date.
	LeadDays *int `json:"lead_days,omitempty"`
	// MinUnits is the minimum the order must reach at that lead time (0: none).
	MinUnits int `json:"min_units"`
	// Units is the order's total quantity, the measure of MinUnits.
	Units float64 `json:"units"`
	// OrderDays are the UTC weekdays orders are taken ("mon" … "sun");
	// OrderDayToday says whether today is one.
	OrderDays     []string `json:"order_days"`
	OrderDayToday bool     `json:"order_day_today"`
	// ShipTo are the location types the tier delivers to (dc, store).
	ShipTo    []string       `json:"ship_to"`
	Locations []LocationRule `json:"locations"`
}

// Menu is what the account's tier offers (CONTRACT.md section 4).
type Menu struct {
	Orders        bool   `json:"orders"`         // every tier takes orders
	FactoryPickup bool   `json:"factory_pickup"` // pickup: "factory" allowed
	VMI           string `json:"vmi"`            // continuous, scheduled or off
	RFID          string `json:"rfid"`           // on or off
	Delivery      string `json:"delivery"`       // realtime or batched
}

// MinStep is one minimum-order step.
type MinStep struct {
	LeadDays int  `json:"lead_days"`
	Units    int  `json:"units"`
	Applies  bool `json:"applies"`
}

// LocationRule is one of the account's locations and whether an order may
// ship to it; Reason says why not, in the words of the rejection.
type LocationRule struct {
	GLN       string `json:"gln"`
	Type      string `json:"type"`
	Warehouse string `json:"warehouse"`
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason,omitempty"`
}

// Check is the pure dry run of an order's rules: Decide for the account at
// now, plus the rules it applied. It stores and publishes nothing. The
// order is assumed schema-valid; Service.Check validates first.
func Check(now time.Time, entry *accounts.Entry, p *Placed) CheckResult {
	if p == nil {
		p = &Placed{}
	}
	d := Decide(now, &entry.Account, entry.Policy, p)
	res := CheckResult{Reasons: d.Problems, Rules: rulesOf(now, entry, p)}
	switch d.State {
	case StateAccepted:
		res.Decision = DecisionAccept
	case StateHeld:
		res.Decision = DecisionHold
		at := d.ReleaseAt
		res.ReleaseAt = &at
	default:
		res.Decision = DecisionReject
	}
	if res.Reasons == nil {
		res.Reasons = []bus.Problem{}
	}
	return res
}

// rulesOf describes the rules Decide applies to p at now.
func rulesOf(now time.Time, entry *accounts.Entry, p *Placed) Rules {
	a, pol := &entry.Account, entry.Policy
	now = now.UTC()
	taken := pol.OrderDays.Next(now)
	r := Rules{
		Account:       a.ID,
		Tier:          a.Tier,
		Menu:          Menu{Orders: true, FactoryPickup: pol.FactoryPickup, VMI: pol.VMI, RFID: pol.RFID, Delivery: pol.Delivery},
		TakenOn:       taken.Format(time.DateOnly),
		OrderDayToday: pol.OrderDays.Contains(now.Weekday()),
		ShipTo:        slices.Clone(pol.ShipTo),
		MinOrderUnits: []MinStep{},
		Locations:     []LocationRule{},
	}
	for _, d := range pol.OrderDays {
		r.OrderDays = append(r.OrderDays, strings.ToLower(d.String()[:3]))
	}
	r.Units = p.Units()
	if _, err := time.Parse(time.DateOnly, p.RequestedDate); err == nil {
		lead := LeadDays(taken, p.RequestedDate)
		r.LeadDays = &lead
		r.MinUnits = pol.MinOrder(lead)
	}
	// The step that applies is the one MinOrder picks: the largest
	// lead_days not above the lead time.
	applies := -1
	if r.LeadDays != nil {
		for _, s := range pol.MinOrderUnits {
			if s.LeadDays <= *r.LeadDays && s.LeadDays > applies {
				applies = s.LeadDays
			}
		}
	}
	for _, s := range pol.MinOrderUnits {
		r.MinOrderUnits = append(r.MinOrderUnits, MinStep{LeadDays: s.LeadDays, Units: s.Units, Applies: s.LeadDays == applies})
	}
	for _, l := range a.Locations {
		lr := LocationRule{GLN: l.GLN, Type: l.Type, Warehouse: l.Warehouse, Allowed: pol.AllowsShipTo(l.Type)}
		if !lr.Allowed {
			lr.Reason = fmt.Sprintf("%s is a %s; the %s tier delivers to %s only", l.GLN, l.Type, a.Tier, strings.Join(pol.ShipTo, ", "))
		}
		r.Locations = append(r.Locations, lr)
	}
	return r
}

// ErrNotAnAccount is returned by Service.Check for an id the registry does
// not hold.
var ErrNotAnAccount = errors.New("not an account")

// Check is the dry run POST /v1/orders/check and the portal run: data (the
// data of an order.placed event) is validated against the event's schema,
// then decided by the account's rules at the service's clock, and checked
// against the orders already placed (a PO placed and not rejected is a
// duplicate). Nothing is stored or published. Problems with the order are
// reasons of a reject, not errors; the error is for an unknown account or an
// unreadable orders bucket.
func (s *Service) Check(ctx context.Context, account string, data []byte) (CheckResult, error) {
	entry, ok := s.reg.Account(account)
	if !ok {
		return CheckResult{}, fmt.Errorf("check order of %q: %w", account, ErrNotAnAccount)
	}
	now := s.cfg.Now()
	var reasons []bus.Problem
	err := s.cfg.Schemas.Validate(typePlaced, data)
	var invalid *schemas.InvalidJSONError
	var violations *schemas.ViolationError
	switch {
	case err == nil:
	case errors.As(err, &invalid):
		res := Check(now, entry, nil)
		res.Decision, res.ReleaseAt = DecisionReject, nil
		res.Reasons = []bus.Problem{{Code: bus.CodeInvalidJSON, Message: invalid.Error()}}
		return res, nil
	case errors.As(err, &violations):
		for _, v := range violations.Violations {
			reasons = append(reasons, bus.Problem{Code: bus.CodeSchemaViolation, Message: v.Message, Field: v.Field})
		}
	default:
		reasons = append(reasons, bus.Problem{Code: bus.CodeSchemaViolation, Message: err.Error()})
	}
	// A schema-invalid order is still decided as far as it decodes, so that
	// a form half filled in already shows the rules it breaks; a rule's
	// problem on a field the schema already faults is left out.
	var p Placed
	_ = json.Unmarshal(data, &p)
	res := Check(now, entry, &p)
	for _, r := range res.Reasons {
		if !slices.ContainsFunc(reasons, func(q bus.Problem) bool { return q.Field == r.Field }) {
			reasons = append(reasons, r)
		}
	}
	if p.PONumber != "" {
		existing, _, err := s.get(ctx, orderKey(account, p.PONumber))
		if err != nil {
			return CheckResult{}, err
		}
		if existing != nil && existing.State != StateRejected {
			reasons = append(reasons, bus.Problem{Code: bus.CodeDuplicate,
				Message: fmt.Sprintf("PO %s was already placed (event %s)", p.PONumber, existing.PlacedEventID), Field: "po_number"})
		}
	}
	if len(reasons) > 0 {
		res.Decision, res.ReleaseAt = DecisionReject, nil
	}
	res.Reasons = reasons
	if res.Reasons == nil {
		res.Reasons = []bus.Problem{}
	}
	return res, nil
}
