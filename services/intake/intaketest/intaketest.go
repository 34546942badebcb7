// Package intaketest builds the events that come in at the hub's door, for
// the tests of the intake checks and of the gateway that runs them.
package intaketest

import (
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
)

// Event returns a CloudEvent 1.0 of type bus.Type(name) with JSON data, at
// a fixed time; account "" leaves the account extension out, as a
// customer's ERP sends it (the hub sets it).
func Event(t testing.TB, id, name, source, account string, data any) *event.Event {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(bus.Type(name))
	ev.SetSource(source)
	ev.SetTime(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	if account != "" {
		ev.SetExtension(bus.ExtAccount, account)
	}
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatalf("set data: %v", err)
	}
	return &ev
}

// OrderData is a valid crossdock.order.placed.v1 data for a DC of GLN
// 0614141000005.
func OrderData() map[string]any {
	return map[string]any{
		"po_number":      "PO-2026-000417",
		"ship_to":        "0614141000005",
		"requested_date": "2026-03-16",
		"lines": []any{
			map[string]any{"line": 1, "gtin": "00614141123452", "quantity": 24, "unit": "EA"},
			map[string]any{"line": 2, "gtin": "9506000134352", "quantity": 6, "unit": "CS"},
		},
	}
}

// ShipmentData is a valid crossdock.shipment.dispatched.v1 data.
func ShipmentData() map[string]any {
	return map[string]any{
		"shipment_id": "SHP-DCEAST-000917",
		"order_id":    "ord-7f3c2a91",
		"lines":       []any{map[string]any{"line": 1, "gtin": "00614141123452", "quantity": 24, "unit": "EA"}},
	}
}

// Order is acme's order.placed for its DC, as its ERP sends it (no account
// extension: the hub sets it).
func Order(t testing.TB, id string) *event.Event {
	t.Helper()
	return Event(t, id, "order.placed", "/accounts/acme", "", OrderData())
}

// Shipment is dc-east's shipment.dispatched for account.
func Shipment(t testing.TB, id, account string) *event.Event {
	t.Helper()
	return Event(t, id, "shipment.dispatched", "/warehouses/dc-east", account, ShipmentData())
}
