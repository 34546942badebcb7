package orders

import (
	"fmt"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// An accepted order's answers wait on its write rather than the worker
// (bus.Guard): two placements of one PO arriving together must still make
// one order, accepted once, and one duplicate.
func TestAPOPlacedTwiceAtOnceIsOneOrderAndOneDuplicate(t *testing.T) {
	ts := startService(t, func() time.Time { return monday })
	accepted := bustest.Watch(t, ts.bus.Conn(), bus.OutSubject("acme", bus.Name(typeAccepted)))
	rejected := bustest.Watch(t, ts.bus.Conn(), bus.OutSubject("acme", bus.Name(typeRejected)))
	p := order("PO-TWICE", acmeDC, "2099-12-01", 5)
	for _, id := range []string{"ev-twice-1", "ev-twice-2"} {
		hubtest.Route(t, ts.bus, ts.reg, id, bus.Name(typePlaced), "/accounts/acme", "acme", p)
	}
	first := bustest.Next(t, accepted, 10*time.Second)
	dup := hubtest.DataOf(t, bustest.Next(t, rejected, 10*time.Second))
	if code := dup["reasons"].([]any)[0].(map[string]any)["code"]; code != bus.CodeDuplicate {
		t.Errorf("the other placement was rejected with %v, want %s", code, bus.CodeDuplicate)
	}
	got := ts.waitState("acme", "PO-TWICE", StateAccepted)
	if cause := first.Extensions()[bus.ExtCausationID]; got["placed_event_id"] != cause {
		t.Errorf("the stored order was placed by %v, but the accepted answer is to %v", got["placed_event_id"], cause)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		st, err := ts.bus.JetStream().Stream(t.Context(), bus.StreamOut)
		if err != nil {
			return err
		}
		info, err := st.Info(t.Context())
		if err != nil {
			return err
		}
		// accepted, fulfillment.requested (on the warehouse's subject) and the rejection
		if info.State.Msgs != 3 {
			return fmt.Errorf("XD_OUT holds %d messages, want 3", info.State.Msgs)
		}
		return nil
	})
}
