package bus_test

import (
	"context"
	"testing"

	"github.com/crossdock/crossdock/bus"
)

// TestConsumersThatShareLettersDeadLetterAMessageOnce: the router's lanes
// and its sweep may both be given one intake event; when both refuse it,
// the DLQ holds one letter, filed under the name they share.
func TestConsumersThatShareLettersDeadLetterAMessageOnce(t *testing.T) {
	h := newHub(t)
	for _, durable := range []string{"router-priority", "router"} {
		cfg := config(durable)
		cfg.Letters = "router"
		h.consume(t, cfg, func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
			return nil, bus.Reject(bus.CodeBelowMinimumOrder, "below the minimum", "lines")
		})
	}
	h.publish(t, bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-2")), "acme:po-2")
	for _, durable := range []string{"router-priority", "router"} {
		h.settled(t, durable)
	}
	letter := h.last(t, bus.StreamDLQ, "xd.dlq.acme.below_minimum_order")
	if got := letter.Header.Get(bus.HeaderDLQConsumer); got != "router" {
		t.Errorf("letter filed under %q, want router", got)
	}
	if n := h.count(t, bus.StreamDLQ, "xd.dlq.>"); n != 1 {
		t.Errorf("XD_DLQ holds %d letters, want 1", n)
	}
}
