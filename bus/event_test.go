package bus_test

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
)

func TestMsgID(t *testing.T) {
	acme := orderPlaced(t, "po-417")
	umbrella := newEvent(t, "po-417", bus.Type("order.placed"), "/accounts/umbrella", "umbrella", orderData())
	warehouse := newEvent(t, "ship-9", bus.Type("shipment.dispatched"), "/warehouses/dc-east", "", map[string]string{})
	forAcme := newEvent(t, "po-417", bus.Type("shipment.dispatched"), "/warehouses/dc-east", "acme", map[string]string{})
	hubMade := newEvent(t, "po-417", bus.Type("order.accepted"), "/crossdock/orders", "acme", map[string]string{})
	tests := []struct {
		name string
		id   string
		want string
	}{
		{"an account's event is scoped by its account", bus.MsgID(acme), "acme:po-417"},
		{"another account's event with the same id does not collide", bus.MsgID(umbrella), "umbrella:po-417"},
		{"a warehouse's event is scoped by the warehouse", bus.MsgID(warehouse), "wh.dc-east:ship-9"},
		{"a warehouse's event naming an account does not collide with the account's own", bus.MsgID(forAcme), "wh.dc-east:po-417"},
		{"an event the hub makes for an account is scoped by the account", bus.MsgID(hubMade), "acme:po-417"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.id != tc.want {
				t.Errorf("MsgID = %q, want %q", tc.id, tc.want)
			}
		})
	}
}

func TestNewEvent(t *testing.T) {
	cause := orderPlaced(t, "po-417")
	ev, err := bus.NewEvent(cause, bus.Type("order.accepted"), "", "/crossdock/orders", map[string]string{"order_id": "o-1"})
	if err != nil {
		t.Fatalf("NewEvent: %v", err)
	}
	again, err := bus.NewEvent(cause, bus.Type("order.accepted"), "", "/crossdock/orders", map[string]string{"order_id": "o-1"})
	if err != nil {
		t.Fatalf("NewEvent: %v", err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"id", ev.ID(), bus.DeriveID("po-417", bus.Type("order.accepted")+"/")},
		{"id of a second answer to the same cause", again.ID(), ev.ID()},
		{"type", ev.Type(), "crossdock.order.accepted.v1"},
		{"source", ev.Source(), "/crossdock/orders"},
		{"account", bus.Account(ev), "acme"},
		{"causationid", ev.Extensions()[bus.ExtCausationID].(string), "po-417"},
		{"traceparent", ev.Extensions()[bus.ExtTraceparent].(string), traceparent},
		{"datacontenttype", ev.DataContentType(), "application/json"},
		{"data", string(ev.Data()), `{"order_id":"o-1"}`},
	} {
		if c.got != c.want {
			t.Errorf("NewEvent(po-417) %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("NewEvent(po-417).Validate() = %v, want nil", err)
	}
}

func TestNewRootEvent(t *testing.T) {
	ev, err := bus.NewRootEvent("tier:acme:3", bus.Type("account.tier.changed"), "/crossdock/accounts", "acme",
		map[string]string{"account": "acme", "from": "stable", "to": "priority"})
	if err != nil {
		t.Fatalf("NewRootEvent: %v", err)
	}
	if got, want := bus.MsgID(ev), "acme:tier:acme:3"; got != want {
		t.Errorf("MsgID(NewRootEvent) = %q, want %q", got, want)
	}
	if _, ok := ev.Extensions()[bus.ExtCausationID]; ok {
		t.Errorf("NewRootEvent has a causationid, want none")
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("NewRootEvent.Validate() = %v, want nil", err)
	}
}

func TestRejectionEvent(t *testing.T) {
	mismatch := newEvent(t, "po-417", bus.Type("order.placed"), "/accounts/umbrella", "umbrella", orderData())
	tests := []struct {
		name        string
		ev          *event.Event
		fallbackID  string
		sender      bus.Sender
		wantID      string
		wantAccount string
		wantRejID   string
	}{
		{"an event is answered to the sender the subject names", mismatch, "", bus.Sender{Account: "acme"},
			bus.DeriveID("po-417", bus.Type("event.rejected")+"/"), "acme", "po-417"},
		{"an unreadable message is answered with an id derived from where it is stored", nil, "XD_IN:42", bus.Sender{Account: "acme"},
			bus.DeriveID("XD_IN:42", bus.Type("event.rejected")+"/"), "acme", ""},
		{"a warehouse is answered without an account", nil, "XD_IN:43", bus.Sender{Warehouse: "dc-east"},
			bus.DeriveID("XD_IN:43", bus.Type("event.rejected")+"/"), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.ev != nil {
				before = bus.Account(tc.ev)
			}
			rej, err := bus.RejectionEvent(tc.ev, tc.fallbackID, "/crossdock/gateway", tc.sender, bus.Reject(bus.CodeAccountMismatch, "not yours", "account"))
			if err != nil {
				t.Fatalf("RejectionEvent: %v", err)
			}
			if rej.ID() != tc.wantID {
				t.Errorf("RejectionEvent id = %s, want %s", rej.ID(), tc.wantID)
			}
			if got := bus.Account(rej); got != tc.wantAccount {
				t.Errorf("RejectionEvent account = %q, want %q", got, tc.wantAccount)
			}
			var data bus.RejectedData
			if err := rej.DataAs(&data); err != nil {
				t.Fatal(err)
			}
			if data.RejectedID != tc.wantRejID || len(data.Errors) != 1 || data.Errors[0].Code != bus.CodeAccountMismatch {
				t.Errorf("RejectionEvent data = %+v, want rejected_id %q and account_mismatch", data, tc.wantRejID)
			}
			if tc.ev != nil {
				if got := bus.Account(tc.ev); got != before {
					t.Errorf("RejectionEvent changed the rejected event's account from %q to %q", before, got)
				}
			}
		})
	}
}
