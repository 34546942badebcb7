package bus_test

import (
	"bytes"
	"testing"

	"github.com/crossdock/crossdock/bus"
)

// The delivery service decodes what services stored in XD_OUT and writes it
// again as an HTTP request: every attribute and extension must survive the
// NATS binding's binary mode.
func TestABinaryModeEventDecodesToTheSameEventForDelivery(t *testing.T) {
	tests := []struct {
		name string
		id   string
	}{
		{name: "an order with five lines keeps its attributes, extensions and data", id: "acme-po-417"},
		{name: "an id with characters outside a token survives", id: "po 417/ä"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := orderPlaced(t, tc.id)
			got, err := bus.Decode(bus.Encode("xd.out.acme.order.placed", ev))
			if err != nil {
				t.Fatalf("Decode(Encode()) = %v", err)
			}
			if got.ID() != ev.ID() || got.Type() != ev.Type() || got.Source() != ev.Source() || !got.Time().Equal(ev.Time()) {
				t.Errorf("attributes = %s %s %s %s, want %s %s %s %s", got.ID(), got.Type(), got.Source(), got.Time(), ev.ID(), ev.Type(), ev.Source(), ev.Time())
			}
			if bus.Account(got) != "acme" || got.Extensions()[bus.ExtTraceparent] != traceparent {
				t.Errorf("extensions = %v, want account acme and the traceparent", got.Extensions())
			}
			if want := mustJSON(t, orderData()); !bytes.Equal(got.Data(), want) {
				t.Errorf("data = %s, want %s", got.Data(), want)
			}
		})
	}
}
