package bus_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
)

// traceparent is a W3C trace context header value (traceparent §3.2).
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// orderData is a realistic crossdock.order.placed.v1 data with five lines.
func orderData() map[string]any {
	lines := make([]map[string]any, 5)
	gtins := []string{"00614141123452", "00614141000036", "00614141000043", "00614141000050", "00614141000067"}
	for i := range lines {
		lines[i] = map[string]any{"line": i + 1, "gtin": gtins[i], "quantity": 12 * (i + 1), "unit": "CA"}
	}
	return map[string]any{
		"po_number":      "PO-2024-000417",
		"ship_to":        "0614141000005",
		"requested_date": "2026-03-02",
		"lines":          lines,
	}
}

// orderPlaced is an order.placed event as the acme account's ERP sends it.
func orderPlaced(tb testing.TB, id string) *event.Event {
	tb.Helper()
	return newEvent(tb, id, bus.Type("order.placed"), "/accounts/acme", "acme", orderData())
}

func newEvent(tb testing.TB, id, typ, source, account string, data any) *event.Event {
	tb.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(source)
	ev.SetTime(time.Date(2026, 2, 27, 14, 3, 9, 123456789, time.UTC))
	if account != "" {
		ev.SetExtension(bus.ExtAccount, account)
	}
	ev.SetExtension(bus.ExtTraceparent, traceparent)
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		tb.Fatalf("set data: %v", err)
	}
	return &ev
}

// mustJSON marshals v or fails the test.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	return b
}
