package orders

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
)

// BenchmarkOrderPath is the work an order.placed costs without NATS: schema
// validation of its data, decoding, the tier rules, and encoding the order
// as it is stored.
func BenchmarkOrderPath(b *testing.B) {
	v, err := schemas.New()
	if err != nil {
		b.Fatal(err)
	}
	data := []byte(`{"po_number":"PO-BENCH-1","ship_to":"0614141000005","requested_date":"2026-12-21","lines":[` +
		`{"line":1,"gtin":"00614141123452","quantity":100,"unit":"EA"},` +
		`{"line":2,"gtin":"00614141123452","quantity":100,"unit":"CS"},` +
		`{"line":3,"gtin":"00614141123452","quantity":100,"unit":"EA"},` +
		`{"line":4,"gtin":"00614141123452","quantity":100,"unit":"KGM"},` +
		`{"line":5,"gtin":"00614141123452","quantity":100,"unit":"EA"}]}`)
	monday := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC) // an ordering day of every tier
	tiers := accounts.DefaultTiers()

	for _, tier := range []accounts.Tier{accounts.Strategic, accounts.Stable} {
		b.Run(string(tier), func(b *testing.B) {
			acct := &accounts.Account{ID: "acme", Tier: tier, Locations: []accounts.Location{
				{GLN: "0614141000005", Type: accounts.LocationDC, Warehouse: "dc-east"},
				{GLN: "0614141000012", Type: accounts.LocationStore, Warehouse: "dc-west"},
			}}
			pol := tiers[tier]
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Validate("crossdock.order.placed.v1", data); err != nil {
					b.Fatal(err)
				}
				var p Placed
				if err := json.Unmarshal(data, &p); err != nil {
					b.Fatal(err)
				}
				d := Decide(monday, acct, pol, &p)
				if d.State != StateAccepted {
					b.Fatalf("state %s (%v), want accepted", d.State, d.Problems)
				}
				o := Order{Placed: p, Account: acct.ID, OrderID: "3f0c6a52-4d3e-5b8e-9c1a-2b7d8e9f0a1b", State: d.State,
					Warehouse: d.Warehouse, PlacedEventID: "evt-1",
					History: []Change{{At: monday, State: d.State, EventID: "evt-1"}}}
				if _, err := json.Marshal(&o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
