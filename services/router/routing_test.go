package router

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/intake"
)

// accountsYAML has one account per tier and two warehouses; no account is
// called hooli.
const accountsYAML = `warehouses:
  - {id: dc-east}
  - {id: dc-west}
accounts:
  - {id: acme, name: ACME, tier: strategic, locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]}
  - {id: globex, name: Globex, tier: integrated, locations: [{gln: "0614141000029", type: dc, warehouse: dc-west}]}
  - {id: initech, name: Initech, tier: emerging, locations: [{gln: "0614141000043", type: store, warehouse: dc-east}]}
  - {id: umbrella, name: Umbrella, tier: stable, locations: [{gln: "0614141000050", type: dc, warehouse: dc-west}]}
`

// newRouter returns a router over a fresh embedded server whose registry
// holds accountsYAML, and that registry.
func newRouter(t *testing.T) (*Service, *accounts.Registry) {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg := accountstest.Registry(t, b, accountsYAML)
	v, err := schemas.New()
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{}, b, reg, intake.NewChecker(reg, v, 0), bustest.Logger(t)), reg
}

// arrival is an event as it arrives on an intake subject.
type arrival struct {
	subject, id, typ, source, account string
	data                              any
}

func (in arrival) delivery(t *testing.T) *bus.Delivery {
	t.Helper()
	ev := event.New()
	ev.SetID(in.id)
	ev.SetType(in.typ)
	ev.SetSource(in.source)
	if in.account != "" {
		ev.SetExtension("account", in.account)
	}
	if err := ev.SetData(event.ApplicationJSON, in.data); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	return &bus.Delivery{Event: &ev, Subject: in.subject, Size: len(b), Attempt: 1}
}

func order(shipTo string, qty int) map[string]any {
	return map[string]any{"po_number": "PO-1", "ship_to": shipTo, "requested_date": "2030-01-15",
		"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": qty, "unit": "EA"}}}
}

func report(gln string) map[string]any {
	return map[string]any{"location": gln, "as_of": "2026-11-24T09:00:00Z",
		"items": []map[string]any{{"gtin": "00614141123452", "on_hand": 5}}}
}

func reads(readPoint string) map[string]any {
	return map[string]any{"reader": "r-1", "read_point": readPoint,
		"reads": []map[string]any{{"epc": "3074257BF7194E4000001A85", "time": "2026-11-24T09:00:00Z"}}}
}

func TestRoutingDecisions(t *testing.T) {
	r, _ := newRouter(t)
	tests := []struct {
		name string
		in   arrival
		// wantSubject is the lane subject, or "" when the event is refused
		// with wantCode.
		wantSubject, wantCode string
	}{
		{"a strategic account's order goes to the strategic lane",
			arrival{"xd.in.acme.order.placed", "a-1", schemas.OrderPlaced, "/accounts/acme", "", order("0614141000005", 5)},
			"xd.routed.strategic.acme.order.placed", ""},
		{"a stable account's order goes to the stable lane, its rules left to the orders service",
			arrival{"xd.in.umbrella.order.placed", "u-1", schemas.OrderPlaced, "/accounts/umbrella", "umbrella", order("0614141000050", 1)},
			"xd.routed.stable.umbrella.order.placed", ""},
		{"an integrated account's inventory report goes to its lane for scheduled VMI",
			arrival{"xd.in.globex.inventory.reported", "g-1", schemas.InventoryReported, "/accounts/globex", "", report("0614141000029")},
			"xd.routed.integrated.globex.inventory.reported", ""},
		{"an emerging account's inventory report is not on its tier's menu",
			arrival{"xd.in.initech.inventory.reported", "i-1", schemas.InventoryReported, "/accounts/initech", "", report("0614141000043")},
			"", problem.CodeNotInTierMenu},
		{"a stable account's RFID reads are not on its tier's menu",
			arrival{"xd.in.umbrella.rfid.observed", "u-2", schemas.RFIDObserved, "/accounts/umbrella", "", reads("0614141000050")},
			"", problem.CodeNotInTierMenu},
		{"a strategic account's RFID reads go to its lane",
			arrival{"xd.in.acme.rfid.observed", "a-2", schemas.RFIDObserved, "/accounts/acme", "", reads("0614141000005")},
			"xd.routed.strategic.acme.rfid.observed", ""},
		{"a warehouse's shipment is routed in the lane of the account it names",
			arrival{"xd.in.wh.dc-east.shipment.dispatched", "s-1", schemas.ShipmentDispatched, "/warehouses/dc-east", "acme",
				map[string]any{"shipment_id": "S-1", "order_id": "o-1", "lines": []map[string]any{{"gtin": "00614141123452", "quantity": 5}}}},
			"xd.routed.strategic.acme.shipment.dispatched", ""},
		{"a warehouse's shipment for an account it does not serve is refused",
			arrival{"xd.in.wh.dc-east.shipment.dispatched", "s-2", schemas.ShipmentDispatched, "/warehouses/dc-east", "umbrella",
				map[string]any{"shipment_id": "S-2", "order_id": "o-2", "lines": []map[string]any{{"gtin": "00614141123452", "quantity": 5}}}},
			"", problem.CodeAccountMismatch},
		{"an event naming another account than the subject's sender is refused",
			arrival{"xd.in.acme.order.placed", "a-3", schemas.OrderPlaced, "/accounts/acme", "umbrella", order("0614141000005", 5)},
			"", problem.CodeAccountMismatch},
		{"an account the registry does not know is refused",
			arrival{"xd.in.hooli.order.placed", "h-1", schemas.OrderPlaced, "/accounts/hooli", "", order("0614141000005", 5)},
			"", problem.CodeUnknownAccount},
		{"an order that breaks its schema is refused before any lane",
			arrival{"xd.in.acme.order.placed", "a-4", schemas.OrderPlaced, "/accounts/acme", "", order("0614141000005", -1)},
			"", problem.CodeSchemaViolation},
		{"an event type the hub does not know is refused",
			arrival{"xd.in.acme.order.cancelled", "a-5", "crossdock.order.cancelled.v1", "/accounts/acme", "", map[string]any{}},
			"", problem.CodeUnknownType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.in.delivery(t)
			outs, err := r.Handle(context.Background(), d)
			if tc.wantCode != "" {
				rej, ok := problem.AsRejection(err)
				if !ok || rej.Code() != tc.wantCode {
					t.Fatalf("Handle(%s) = %v, %v; want a rejection %s", tc.in.id, outs, err, tc.wantCode)
				}
				return
			}
			if err != nil || len(outs) != 1 {
				t.Fatalf("Handle(%s) = %v, %v; want one event on %s", tc.in.id, outs, err, tc.wantSubject)
			}
			if outs[0].Subject != tc.wantSubject {
				t.Errorf("Handle(%s) subject = %s, want %s", tc.in.id, outs[0].Subject, tc.wantSubject)
			}
			if outs[0].Event.ID() != tc.in.id {
				t.Errorf("Handle(%s) routed id %s, want the event unchanged", tc.in.id, outs[0].Event.ID())
			}
		})
	}
}

func TestATierChangeMovesTheNextEventToTheNewLane(t *testing.T) {
	r, reg := newRouter(t)
	in := arrival{"xd.in.globex.order.placed", "g-1", schemas.OrderPlaced, "/accounts/globex", "", order("0614141000029", 5)}
	outs, err := r.Handle(context.Background(), in.delivery(t))
	if err != nil || len(outs) != 1 || outs[0].Subject != "xd.routed.integrated.globex.order.placed" {
		t.Fatalf("before the change: %v, %v; want the integrated lane", outs, err)
	}
	if _, err := reg.SetTier(context.Background(), "globex", accounts.Strategic); err != nil {
		t.Fatal(err)
	}
	in.id = "g-2"
	bustest.CheckFor(t, 10*time.Second, func() error {
		outs, err = r.Handle(context.Background(), in.delivery(t))
		if err != nil || len(outs) != 1 || outs[0].Subject != "xd.routed.strategic.globex.order.placed" {
			return bustest.ErrNotYet
		}
		return nil
	})
}

func TestWantedFiltersFollowTheRegistry(t *testing.T) {
	r, _ := newRouter(t)
	tests := []struct {
		lane accounts.Lane
		want []string
	}{
		{accounts.Priority, []string{"xd.in.acme.>"}},
		{accounts.Standard, []string{"xd.in.globex.>", "xd.in.initech.>", "xd.in.wh.>"}},
		{accounts.Bulk, []string{"xd.in.umbrella.>"}},
	}
	for _, tc := range tests {
		t.Run("the "+string(tc.lane)+" lane takes its accounts' intake", func(t *testing.T) {
			got := r.wanted(tc.lane)
			if len(got) != len(tc.want) {
				t.Fatalf("wanted(%s) = %v, want %v", tc.lane, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("wanted(%s) = %v, want %v", tc.lane, got, tc.want)
				}
			}
		})
	}
}

func TestFilterKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, subject, want string }{
		{"an account's intake is covered by its account filter", "xd.in.acme.order.placed", "xd.in.acme.>"},
		{"a longer event name is covered alike", "xd.in.acme.rfid.location.changed", "xd.in.acme.>"},
		{"a warehouse's intake is covered by the warehouses' filter", "xd.in.wh.dc-east.shipment.dispatched", "xd.in.wh.>"},
		{"a routed subject is no intake", "xd.routed.strategic.acme.order.placed", ""},
		{"a subject without an event name is no intake", "xd.in.acme", ""},
		{"a partner file is no intake", "xd.raw.acme.x12", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := filterKey(tc.subject); got != tc.want {
				t.Errorf("filterKey(%s) = %q, want %q", tc.subject, got, tc.want)
			}
		})
	}
}
