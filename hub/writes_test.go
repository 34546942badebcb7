package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/orders"
)

// stored is how many messages each stream holds now.
func (h *testHub) stored(streams []string) map[string]uint64 {
	h.t.Helper()
	out := make(map[string]uint64, len(streams))
	for _, name := range streams {
		s, err := h.bus.JetStream().Stream(context.Background(), name)
		if err != nil {
			h.t.Fatalf("stream %s: %v", name, err)
		}
		out[name] = s.CachedInfo().State.Msgs
	}
	return out
}

// TestAnAcceptedOrderIsStoredFourTimes checks k, the stored writes per order
// (docs/performance.md): over NATS and over HTTP alike, an accepted order is
// stored in XD_IN, its state in XD_ORDERS, its order.accepted and its
// fulfillment.requested in XD_OUT, and nowhere else. The router hands it to
// the orders service of its process, so there is no lane copy in XD_ROUTED,
// and each order is answered once.
func TestAnAcceptedOrderIsStoredFourTimes(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	js, err := jetstream.New(h.connect("globex"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	streams := []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut, bus.StreamDLQ, bus.BucketStream(orders.Bucket)}
	for _, tc := range []struct {
		name string
		send func(id string, o order)
	}{
		{"over NATS", func(id string, o order) { publishOrderAs(t, js, "globex", id, o, nil) }},
		{"over HTTP", func(id string, o order) { h.sendOrder("globex", id, o) }},
	} {
		t.Run("an order placed "+tc.name+" is four stored writes", func(t *testing.T) {
			before := h.stored(streams)
			accepted := h.count(bus.StreamOut, "xd.out.globex.order.accepted")
			answers := h.watch("xd.out.globex.order.accepted")
			sent := map[string]bool{}
			for i := range n {
				id := fmt.Sprintf("k-%s-%d", tc.name[5:], i)
				sent[id] = true
				tc.send(id, order{PO: fmt.Sprintf("K-%s-%d", tc.name[5:], i), ShipTo: globexDC, Units: []float64{1}})
			}
			for len(sent) > 0 {
				ev := next(t, answers)
				delete(sent, fmt.Sprint(ev.Extensions()[bus.ExtCausationID]))
			}
			// Every intake consumer has acknowledged what it was given: its
			// outputs are stored.
			for _, durable := range []string{"router-standard", "router"} {
				h.settled(bus.StreamIn, durable)
			}
			after := h.stored(streams)
			want := map[string]uint64{bus.StreamIn: n, bus.StreamRouted: 0, bus.StreamOut: 2 * n, bus.StreamDLQ: 0, bus.BucketStream(orders.Bucket): n}
			var total uint64
			for _, name := range streams {
				d := after[name] - before[name]
				total += d
				if d != want[name] {
					t.Errorf("%s stored %d messages for %d orders, want %d", name, d, n, want[name])
				}
			}
			if total != 4*n {
				t.Errorf("%d orders took %d stored writes, want 4 each (%d)", n, total, 4*n)
			}
			if got := h.count(bus.StreamOut, "xd.out.globex.order.accepted") - accepted; got != n {
				t.Errorf("XD_OUT holds %d new order.accepted for %d orders, want one each", got, n)
			}
		})
	}
}

// laneOf waits until one of the router's intake lanes has been given the
// event last stored in XD_IN on subject, and returns that lane. It reads the
// lanes' consumers, so it assumes no later intake event is in flight.
func (h *testHub) laneOf(t *testing.T, subject string) string {
	t.Helper()
	js := h.bus.JetStream()
	s, err := js.Stream(context.Background(), bus.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatalf("%s in XD_IN: %v", subject, err)
	}
	var lane string
	bustest.CheckFor(t, 10*time.Second, func() error {
		var took []string
		for _, l := range accounts.Lanes {
			c, err := js.Consumer(context.Background(), bus.StreamIn, "router-"+string(l))
			if err != nil {
				return err
			}
			if c.CachedInfo().Delivered.Stream >= m.Sequence {
				took = append(took, string(l))
			}
		}
		if len(took) != 1 {
			return fmt.Errorf("lanes %v were given %s #%d, want one", took, subject, m.Sequence)
		}
		lane = took[0]
		return nil
	})
	return lane
}
