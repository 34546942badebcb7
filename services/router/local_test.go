package router

import (
	"context"
	"testing"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/intake"
)

// experimentsYAML is accountsYAML with an experiment on initech, whose
// emerging tier allows them.
const experimentsYAML = `warehouses:
  - {id: dc-east}
accounts:
  - {id: acme, name: ACME, tier: strategic, locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]}
  - id: initech
    name: Initech
    tier: emerging
    locations: [{gln: "0614141000043", type: dc, warehouse: dc-east}]
    experiments: [{name: showcase, types: ["*"], share: 1}]
`

func TestAnEventForAServiceOfThisProcessGoesToItsHandler(t *testing.T) {
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg := accountstest.Registry(t, b, experimentsYAML)
	v, err := schemas.New()
	if err != nil {
		t.Fatal(err)
	}
	var handled []string
	answer := bus.Outgoing{Subject: "xd.out.acme.order.accepted"}
	orders := func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		handled = append(handled, d.Event.ID())
		return []bus.Outgoing{answer}, nil
	}
	r := New(Config{Local: map[string]bus.Handler{"orders": orders}}, b, reg, intake.NewChecker(reg, v, 0), bustest.Logger(t))
	tests := []struct {
		name string
		in   arrival
		// wantSubject is the one output's subject: the handler's answer,
		// or the lane when the event is republished.
		wantSubject string
		wantHandled bool
	}{
		{"an order goes to the order service's handler, not to XD_ROUTED",
			arrival{"xd.in.acme.order.placed", "a-1", schemas.OrderPlaced, "/accounts/acme", "", order("0614141000005", 5)},
			answer.Subject, true},
		{"RFID reads for a service that runs elsewhere go to their lane",
			arrival{"xd.in.acme.rfid.observed", "a-2", schemas.RFIDObserved, "/accounts/acme", "", reads("0614141000005")},
			"xd.routed.strategic.acme.rfid.observed", false},
		{"an order of an account whose experiments mirror its intake keeps its lane copy",
			arrival{"xd.in.initech.order.placed", "i-1", schemas.OrderPlaced, "/accounts/initech", "", order("0614141000043", 5)},
			"xd.routed.emerging.initech.order.placed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handled = nil
			outs, err := r.Handle(context.Background(), tc.in.delivery(t))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(outs) != 1 || outs[0].Subject != tc.wantSubject {
				t.Errorf("outputs %+v, want one on %s", outs, tc.wantSubject)
			}
			if got := len(handled) == 1 && handled[0] == tc.in.id; got != tc.wantHandled {
				t.Errorf("handled %v, want the handler called: %v", handled, tc.wantHandled)
			}
		})
	}

	t.Run("an event that fails the checks never reaches the handler", func(t *testing.T) {
		handled = nil
		in := arrival{"xd.in.acme.order.placed", "a-3", schemas.OrderPlaced, "/accounts/acme", "", map[string]any{"po_number": "PO-1"}}
		if _, err := r.Handle(context.Background(), in.delivery(t)); err == nil {
			t.Error("Handle accepted an order without lines")
		}
		if len(handled) != 0 {
			t.Errorf("handled %v, want nothing", handled)
		}
	})
}

func TestTheFirstConsumerToTakeAnIntakeEventKeepsIt(t *testing.T) {
	var c claims
	steps := []struct {
		seq     uint64
		durable string
		want    bool
	}{
		{1, "router-priority", true},
		{1, "router", false},          // the sweep acknowledges its copy untouched
		{1, "router-priority", true},  // a redelivery to the claimant
		{2, "router", true},           // the sweep came first
		{2, "router-priority", false}, // the lane leaves it to the sweep
		{0, "router", true},           // no sequence: nothing to claim by
		{0, "router-priority", true},
	}
	for _, s := range steps {
		if got := c.take(s.seq, s.durable); got != s.want {
			t.Errorf("take(%d, %s) = %v, want %v", s.seq, s.durable, got, s.want)
		}
	}
	// Claims are kept for the last claimWindow events.
	for seq := uint64(3); seq < 3+claimWindow; seq++ {
		c.take(seq, "router-bulk")
	}
	if !c.take(1, "router") {
		t.Error("a claim older than the window still holds")
	}
	if c.take(3+claimWindow-1, "router") {
		t.Error("the newest claim is gone")
	}
}
