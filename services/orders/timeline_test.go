package orders

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/edi"
)

func TestStepsOfAnOrderLife(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	x12 := &accounts.EDI{Format: "x12"}
	held := &Order{PlacedEventID: "ev-1", Channel: "csv", State: StateShipped, Warehouse: "dc-east", ReleaseAt: &monday,
		History: []Change{
			{At: t0, State: StateHeld, EventID: "ev-1", Note: "outside_order_window: …"},
			{At: monday, State: StateAccepted, EventID: "ev-1", Note: releasedNote},
			{At: monday.Add(time.Hour), State: StateShipped, EventID: "ship-1", Note: "shipment S-1"},
		},
		Dispatches: []Dispatch{{ShipmentID: "S-1", At: monday.Add(time.Hour), EventID: "ship-1", Carrier: "UPS", Units: 100}},
	}
	replaced := &Order{PlacedEventID: "ev-3", Channel: "api", State: StateAccepted, Warehouse: "dc-east",
		History: []Change{
			{At: t0, State: StateRejected, EventID: "ev-2", Note: "below_minimum_order: …"},
			{At: t0.Add(time.Hour), State: StateAccepted, EventID: "ev-3"},
		},
	}
	rejected := &Order{PlacedEventID: "ev-4", Channel: "nats", State: StateRejected,
		Reasons: []bus.Problem{{Code: "ship_to_not_dc", Message: "…", Field: "ship_to"}},
		History: []Change{{At: t0, State: StateRejected, EventID: "ev-4", Note: "ship_to_not_dc: …"}},
	}
	tests := []struct {
		name  string
		order *Order
		edi   *accounts.EDI
		kinds []string
		check func(t *testing.T, steps []Step)
	}{
		{name: "a held order shows its release time, then its release, fulfilment and shipment",
			order: held, kinds: []string{"placed", "held", "accepted", "fulfillment_requested", "shipped"},
			check: func(t *testing.T, s []Step) {
				if s[0].Channel != "csv" || s[1].ReleaseAt == nil || !s[1].ReleaseAt.Equal(monday) || s[2].Note != releasedNote || s[3].Warehouse != "dc-east" {
					t.Errorf("steps %+v", s)
				}
				if s[4].Shipment == nil || s[4].Shipment.Carrier != "UPS" {
					t.Errorf("shipped step %+v lacks its shipment", s[4])
				}
			}},
		{name: "an EDI account's order shows the 855 answering its acceptance and the 856 of its shipment, with their control numbers",
			order: held, edi: x12, kinds: []string{"placed", "held", "accepted", "fulfillment_requested", "edi_document", "shipped", "edi_document"},
			check: func(t *testing.T, s []Step) {
				accepted := bus.DeriveID("ev-1", typeAccepted+"/")
				if d := s[4].Document; d.Type != "855" || d.Answers != "order.accepted" || d.EventID != accepted || d.Control != edi.Control(accepted) {
					t.Errorf("855 = %+v, want the control number of %s", d, accepted)
				}
				if d := s[6].Document; d.Type != "856" || d.Control != edi.Control("ship-1") {
					t.Errorf("856 = %+v", d)
				}
			}},
		{name: "a PO placed again after a rejection shows both placements, the channel on the current one",
			order: replaced, kinds: []string{"placed", "rejected", "placed", "accepted", "fulfillment_requested"},
			check: func(t *testing.T, s []Step) {
				if s[0].Channel != "" || s[2].Channel != "api" || s[1].Note == "" {
					t.Errorf("steps %+v", s)
				}
			}},
		{name: "a rejected order shows every reason",
			order: rejected, edi: x12, kinds: []string{"placed", "rejected", "edi_document"},
			check: func(t *testing.T, s []Step) {
				if len(s[1].Reasons) != 1 || s[1].Reasons[0].Code != "ship_to_not_dc" || s[2].Document.Type != "855" {
					t.Errorf("steps %+v", s)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps := Steps(tc.order, tc.edi)
			var kinds []string
			for _, s := range steps {
				kinds = append(kinds, s.Kind)
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Fatalf("kinds = %v, want %v", kinds, tc.kinds)
			}
			tc.check(t, steps)
		})
	}
}

func TestSSCCURIs(t *testing.T) {
	got := SSCCURIs("006141411234567896")
	if len(got) != 7 || got[0] != "urn:epc:id:sscc:061414112345.06789" || got[5] != "urn:epc:id:sscc:0614141.0123456789" || got[6] != "urn:epc:id:sscc:061414.01123456789" {
		t.Errorf("SSCCURIs = %v", got)
	}
	if SSCCURIs("12345") != nil || SSCCURIs("00614141123456789X") != nil {
		t.Error("SSCCURIs of a non-SSCC is not empty")
	}
}

// shipAs publishes a warehouse's shipment.dispatched in the account's lane.
func (ts *testService) shipAs(account, warehouse, id string, data map[string]any) {
	ts.t.Helper()
	entry, _ := ts.reg.Account(account)
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typeShipment)
	ev.SetSource("/warehouses/" + warehouse)
	ev.SetExtension(bus.ExtAccount, account)
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		ts.t.Fatal(err)
	}
	subject := "xd.routed." + string(entry.Account.Tier) + "." + account + ".shipment.dispatched"
	if _, err := ts.bus.Publish(context.Background(), bus.Outgoing{Subject: subject, Event: &ev}); err != nil {
		ts.t.Fatal(err)
	}
}

func TestTimelineAndListAreTheAccountsOwn(t *testing.T) {
	var mu sync.Mutex
	reads := map[string][]TagRead{}
	ts := startService(t, func() time.Time { return monday })
	ts.Service.cfg.Tags = func(_ context.Context, account, uri string) ([]TagRead, error) {
		mu.Lock()
		defer mu.Unlock()
		return reads[account+" "+uri], nil
	}

	ts.place("acme", order("PO-A1", acmeDC, "2099-12-01", 5))
	first := ts.waitState("acme", "PO-A1", StateAccepted)
	ts.place("acme", order("PO-A2", acmeStore, "2099-12-01", 7))
	ts.place("acme", order("PO-B1", "0614141000999", "2099-12-01", 1))
	ts.place("globex", order("PO-A9", otherDC, "2099-12-01", 3))
	ts.waitState("acme", "PO-A2", StateAccepted)
	ts.waitState("acme", "PO-B1", StateRejected)
	ts.waitState("globex", "PO-A9", StateAccepted)

	ts.shipAs("acme", "dc-east", "ship-A1", map[string]any{"shipment_id": "S-A1", "order_id": first["order_id"], "carrier": "UPS", "sscc": "006141411234567896",
		"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": 4}}})
	shipped := ts.waitState("acme", "PO-A1", StateShipped)
	// The shipment's tag is read at the customer's dock an hour after it left.
	left, err := time.Parse(time.RFC3339Nano, shipped["dispatches"].([]any)[0].(map[string]any)["at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	reads["acme urn:epc:id:sscc:0614141.0123456789"] = []TagRead{{EPC: "urn:epc:id:sscc:0614141.0123456789", ReadPoint: "urn:epc:id:sgln:0614141.00000.dock3", Time: left.Add(time.Hour)}}
	mu.Unlock()
	got := ts.waitState("acme", "PO-A1", StateShipped)

	if got["channel"] != "nats" {
		t.Errorf("channel = %v, want nats (no intake marked it)", got["channel"])
	}
	var kinds []string
	for _, s := range got["timeline"].([]any) {
		kinds = append(kinds, s.(map[string]any)["kind"].(string))
	}
	want := []string{"placed", "accepted", "fulfillment_requested", "edi_document", "shipped", "edi_document", "rfid_observed"}
	if !slices.Equal(kinds, want) {
		t.Errorf("timeline = %v, want %v", kinds, want)
	}
	if d := got["dispatches"].([]any)[0].(map[string]any); d["sscc"] != "006141411234567896" || d["carrier"] != "UPS" || d["units"] != 4.0 {
		t.Errorf("dispatch = %v", d)
	}
	for _, field := range []string{"po_number", "state", "history", "order_id", "placed_event_id", "shipments", "warehouse"} {
		if _, ok := got[field]; !ok {
			t.Errorf("the answer lost the field %s", field)
		}
	}
	if code, body := ts.do("GET", "/v1/orders/PO-A1", "key-globex", "", nil); code != http.StatusNotFound {
		t.Errorf("globex GET acme's PO = %d %v, want 404", code, body)
	}

	placedA2 := ts.waitState("acme", "PO-A2", StateAccepted)
	tests := []struct {
		name  string
		key   string
		query url.Values
		want  []string
		total int
	}{
		{name: "every order of the account, newest first", key: "key-acme", query: url.Values{"from": {"2000-01-01"}}, want: []string{"PO-B1", "PO-A2", "PO-A1"}, total: 3},
		{name: "orders whose PO starts with a prefix", key: "key-acme", query: url.Values{"from": {"2000-01-01"}, "po": {"PO-A"}}, want: []string{"PO-A2", "PO-A1"}, total: 2},
		{name: "a page of one after the first", key: "key-acme", query: url.Values{"from": {"2000-01-01"}, "limit": {"1"}, "offset": {"1"}}, want: []string{"PO-A2"}, total: 3},
		{name: "orders placed before a time", key: "key-acme", query: url.Values{"from": {"2000-01-01"}, "to": {placedAt(t, placedA2)}}, want: []string{"PO-A1"}, total: 1},
		{name: "another account sees its own orders only", key: "key-globex", query: url.Values{"from": {"2000-01-01"}, "po": {"PO-A"}}, want: []string{"PO-A9"}, total: 1},
		{name: "without from, the window starts 90 days before the clock", key: "key-acme", query: url.Values{"to": {"2000-01-01"}}, want: []string{}, total: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do("GET", "/v1/orders?"+tc.query.Encode(), tc.key, "", nil)
			if code != http.StatusOK {
				t.Fatalf("GET /v1/orders = %d %v", code, body)
			}
			pos := []string{}
			for _, o := range body["orders"].([]any) {
				pos = append(pos, o.(map[string]any)["po_number"].(string))
			}
			if !slices.Equal(pos, tc.want) || body["total"] != float64(tc.total) {
				t.Errorf("orders = %v of %v, want %v of %d", pos, body["total"], tc.want, tc.total)
			}
		})
	}
	if code, _ := ts.do("GET", "/v1/orders?from=yesterday", "key-acme", "", nil); code != http.StatusBadRequest {
		t.Errorf("GET /v1/orders?from=yesterday = %d, want 400", code)
	}
}

// placedAt is the RFC 3339 time an order was placed, from its history.
func placedAt(t *testing.T, o map[string]any) string {
	t.Helper()
	h := o["history"].([]any)[0].(map[string]any)
	at, err := time.Parse(time.RFC3339Nano, h["at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return at.Format(time.RFC3339Nano)
}
