package orders

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
)

func TestCheckDecidesAndDescribesTheRules(t *testing.T) {
	tiers := accounts.DefaultTiers()
	entry := func(tier accounts.Tier) *accounts.Entry {
		return &accounts.Entry{Account: accounts.Account{ID: "acct", Tier: tier, Locations: []accounts.Location{
			{GLN: acmeDC, Type: accounts.LocationDC, Warehouse: "dc-east"},
			{GLN: acmeStore, Type: accounts.LocationStore, Warehouse: "dc-west"},
		}}, Policy: tiers[tier]}
	}
	placed := func(shipTo, requested string, units ...float64) *Placed {
		p := &Placed{PONumber: "PO-1", ShipTo: shipTo, RequestedDate: requested}
		for i, u := range units {
			p.Lines = append(p.Lines, Line{Line: i + 1, GTIN: "00614141123452", Quantity: u, Unit: "EA"})
		}
		return p
	}
	tuesday := monday.AddDate(0, 0, 1)
	nextMonday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		tier      accounts.Tier
		at        time.Time
		order     *Placed
		decision  string
		codes     []string
		releaseAt time.Time
		takenOn   string
		leadDays  int
		minUnits  int
		applies   []bool // per min_order_units step
		allowed   []bool // per location
	}{
		{name: "a strategic order to a store is accepted, with every location allowed and no minimum",
			tier: accounts.Strategic, at: tuesday, order: placed(acmeStore, "2026-11-26", 1), decision: DecisionAccept,
			takenOn: "2026-11-24", leadDays: 2, applies: []bool{}, allowed: []bool{true, true}},
		{name: "a stable order below the minimum of its lead time is rejected and the step that applies is marked",
			tier: accounts.Stable, at: monday, order: placed(acmeDC, "2026-11-30", 249), decision: DecisionReject, codes: []string{"below_minimum_order"},
			takenOn: "2026-11-23", leadDays: 7, minUnits: 250, applies: []bool{false, true, false}, allowed: []bool{true, false}},
		{name: "a stable order meeting the 14-day minimum is accepted on a Monday",
			tier: accounts.Stable, at: monday, order: placed(acmeDC, "2026-12-07", 60, 40), decision: DecisionAccept,
			takenOn: "2026-11-23", leadDays: 14, minUnits: 100, applies: []bool{true, false, false}, allowed: []bool{true, false}},
		{name: "a stable order on a Tuesday is held until Monday and its lead time counts from Monday",
			tier: accounts.Stable, at: tuesday, order: placed(acmeDC, "2026-12-14", 100), decision: DecisionHold, releaseAt: nextMonday,
			takenOn: "2026-11-30", leadDays: 14, minUnits: 100, applies: []bool{true, false, false}, allowed: []bool{true, false}},
		{name: "a stable order to a store is refused with the reason the location shows",
			tier: accounts.Stable, at: monday, order: placed(acmeStore, "2026-12-07", 100), decision: DecisionReject, codes: []string{"ship_to_not_dc"},
			takenOn: "2026-11-23", leadDays: 14, minUnits: 100, applies: []bool{true, false, false}, allowed: []bool{true, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(tc.tier)
			res := Check(tc.at, e, tc.order)
			if res.Decision != tc.decision {
				t.Fatalf("decision = %s, want %s (reasons %v)", res.Decision, tc.decision, res.Reasons)
			}
			var codes []string
			for _, p := range res.Reasons {
				codes = append(codes, p.Code)
			}
			if !slices.Equal(codes, tc.codes) {
				t.Errorf("codes = %v, want %v", codes, tc.codes)
			}
			if got := res.ReleaseAt; (got == nil) != tc.releaseAt.IsZero() || (got != nil && !got.Equal(tc.releaseAt)) {
				t.Errorf("release_at = %v, want %v", got, tc.releaseAt)
			}
			r := res.Rules
			if r.TakenOn != tc.takenOn || r.LeadDays == nil || *r.LeadDays != tc.leadDays || r.MinUnits != tc.minUnits {
				t.Errorf("taken_on %s, lead_days %v, min_units %d; want %s, %d, %d", r.TakenOn, r.LeadDays, r.MinUnits, tc.takenOn, tc.leadDays, tc.minUnits)
			}
			var applies, allowed []bool
			for _, s := range r.MinOrderUnits {
				applies = append(applies, s.Applies)
			}
			for _, l := range r.Locations {
				allowed = append(allowed, l.Allowed)
				if !l.Allowed && !strings.Contains(l.Reason, "delivers to dc only") {
					t.Errorf("location %s refused with reason %q", l.GLN, l.Reason)
				}
			}
			if applies == nil {
				applies = []bool{}
			}
			if !slices.Equal(applies, tc.applies) || !slices.Equal(allowed, tc.allowed) {
				t.Errorf("steps apply %v, locations allowed %v; want %v, %v", applies, allowed, tc.applies, tc.allowed)
			}
			if r.Tier != tc.tier || r.Menu.FactoryPickup != e.Policy.FactoryPickup || len(r.OrderDays) != len(e.Policy.OrderDays) {
				t.Errorf("rules = %+v, want the %s tier's menu", r, tc.tier)
			}
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	ts := startService(t, func() time.Time { return monday })
	// Placed over NATS, the order is decided at the real time JetStream
	// stores it, not the service's clock: a date that is never in the past.
	ts.place("acme", order("PO-PLACED", acmeDC, "2099-12-01", 5))
	ts.waitState("acme", "PO-PLACED", StateAccepted)

	badGTIN := order("PO-X", stableDC, "2026-11-30", 10)
	badGTIN["lines"].([]map[string]any)[0]["gtin"] = "00614141123453"
	tests := []struct {
		name        string
		key         string
		contentType string
		body        []byte
		status      int
		decision    string
		codes       []string
		fields      []string
	}{
		{name: "a good order is accepted without being stored", key: "key-acme", body: hubtest.MustJSON(t, order("PO-NEW", acmeDC, "2026-12-01", 5)),
			status: 200, decision: "accept", codes: []string{}, fields: []string{}},
		{name: "a stable order's schema and rule problems are listed together, each with its field", key: "key-umbrella", body: hubtest.MustJSON(t, badGTIN),
			status: 200, decision: "reject", codes: []string{"schema_violation", "below_minimum_order"}, fields: []string{"lines[0].gtin", "lines"}},
		{name: "an order missing its ship-to names the field once", key: "key-umbrella", body: []byte(`{"po_number":"PO-Y","requested_date":"2026-12-07","lines":[{"line":1,"gtin":"00614141123452","quantity":100,"unit":"EA"}]}`),
			status: 200, decision: "reject", codes: []string{"schema_violation"}, fields: []string{"ship_to"}},
		{name: "a PO already placed is a duplicate", key: "key-acme", body: hubtest.MustJSON(t, order("PO-PLACED", acmeDC, "2026-12-01", 5)),
			status: 200, decision: "reject", codes: []string{"duplicate"}, fields: []string{"po_number"}},
		{name: "another account's PO number is not a duplicate", key: "key-globex", body: hubtest.MustJSON(t, order("PO-PLACED", otherDC, "2026-12-01", 5)),
			status: 200, decision: "accept", codes: []string{}, fields: []string{}},
		{name: "a body that is not JSON is answered with invalid_json", key: "key-acme", body: []byte(`{"po_number":`),
			status: 200, decision: "reject", codes: []string{"invalid_json"}, fields: []string{""}},
		{name: "no API key is refused", body: hubtest.MustJSON(t, order("PO-NEW", acmeDC, "2026-12-01", 5)), status: 401},
		{name: "a warehouse's key is refused", key: "key-dc-east", body: hubtest.MustJSON(t, order("PO-NEW", acmeDC, "2026-12-01", 5)), status: 401},
		{name: "another content type is refused", key: "key-acme", contentType: "text/csv", body: []byte("po_number\n"), status: 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			code, body := ts.do("POST", "/v1/orders/check", tc.key, ct, tc.body)
			if code != tc.status {
				t.Fatalf("status = %d, want %d (%v)", code, tc.status, body)
			}
			if tc.status != http.StatusOK {
				return
			}
			if body["decision"] != tc.decision {
				t.Errorf("decision = %v, want %s (%v)", body["decision"], tc.decision, body["reasons"])
			}
			codes, fields := []string{}, []string{}
			for _, r := range body["reasons"].([]any) {
				r := r.(map[string]any)
				codes = append(codes, r["code"].(string))
				f, _ := r["field"].(string)
				fields = append(fields, f)
				if r["message"] == "" {
					t.Errorf("reason %v has no message", r)
				}
			}
			if !slices.Equal(codes, tc.codes) || !slices.Equal(fields, tc.fields) {
				t.Errorf("reasons %v at %v, want %v at %v", codes, fields, tc.codes, tc.fields)
			}
			if _, ok := body["rules"].(map[string]any)["locations"]; !ok {
				t.Errorf("no rules in %v", body)
			}
		})
	}
	if code, _ := ts.do("GET", "/v1/orders/PO-NEW", "key-acme", "", nil); code != http.StatusNotFound {
		t.Errorf("GET the checked order = %d, want 404: a check stores nothing", code)
	}
}
