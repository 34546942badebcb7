package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// TestBadValuesAreAnsweredNotPassedOn covers the bad values of issue 13:
// each gets its own refusal at once, and another account's order sent right
// after is accepted.
func TestBadValuesAreAnsweredNotPassedOn(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	globexAccepted := h.watch("xd.out.globex.order.accepted")
	n := 0
	globexOrders := func() {
		t.Helper()
		n++
		id := "g-" + string(rune('0'+n))
		h.sendOrder("globex", id, order{PO: "G-" + id, ShipTo: globexDC, Units: []float64{5}})
		if got := next(t, globexAccepted); got.Extensions()[bus.ExtCausationID] != id {
			t.Errorf("globex's answer answers %v, want %s", got.Extensions()[bus.ExtCausationID], id)
		}
	}
	code := func(data map[string]any, key string) any {
		list, _ := data[key].([]any)
		if len(list) == 0 {
			return nil
		}
		return list[0].(map[string]any)["code"]
	}

	t.Run("an order for yesterday is rejected requested_date_past", func(t *testing.T) {
		rejected := h.watch("xd.out.acme.order.rejected")
		h.sendOrder("acme", "past-1", order{PO: "PAST-1", ShipTo: dcEast, Requested: yesterday, Units: []float64{5}})
		if got := code(dataOf(t, next(t, rejected)), "reasons"); got != bus.CodeRequestedDatePast {
			t.Errorf("reason = %v, want %s", got, bus.CodeRequestedDatePast)
		}
		globexOrders()
	})

	t.Run("a quantity over a million is refused at the door", func(t *testing.T) {
		status, body := h.post("/v1/events", key("acme"), "application/cloudevents+json",
			orderEvent("acme", "big-1", order{PO: "BIG-1", ShipTo: dcEast, Units: []float64{1_000_001}}))
		if status != http.StatusBadRequest || code(body, "errors") != bus.CodeSchemaViolation {
			t.Errorf("POST = %d %v, want 400 schema_violation", status, body)
		}
		globexOrders()
	})

	t.Run("a shipment naming a malformed order_id is unknown_order at once", func(t *testing.T) {
		refused := h.watch("xd.wh.dc-east.event.rejected")
		ship, _ := json.Marshal(map[string]any{
			"specversion": "1.0", "id": "ship-bad", "source": "/warehouses/dc-east", "account": "acme",
			"type": "crossdock.shipment.dispatched.v1", "datacontenttype": "application/json",
			"data": map[string]any{"shipment_id": "SHP-bad", "order_id": "ord 7f3c*>", "carrier": "UPS",
				"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": 4, "unit": "EA"}}},
		})
		if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", ship); status != http.StatusAccepted {
			t.Fatalf("post shipment: %d %v", status, body)
		}
		if got := code(dataOf(t, next(t, refused)), "errors"); got != bus.CodeUnknownOrder {
			t.Errorf("code = %v, want %s", got, bus.CodeUnknownOrder)
		}
		bustest.CheckFor(t, 10*time.Second, func() error {
			if got := h.count(bus.StreamDLQ, "xd.dlq.wh.dc-east."+bus.CodeUnknownOrder); got != 1 {
				return fmt.Errorf("XD_DLQ holds %d unknown_order letters for dc-east, want 1", got)
			}
			return nil
		})
		globexOrders()
	})
}
