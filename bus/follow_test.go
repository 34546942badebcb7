package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// filtersAre waits until durable's filter on XD_IN is want.
func (h *hub) filtersAre(t *testing.T, durable string, want ...string) {
	t.Helper()
	bustest.CheckFor(t, wait, func() error {
		c, err := h.js.Consumer(context.Background(), bus.StreamIn, durable)
		if err != nil {
			return err
		}
		if got := c.CachedInfo().Config.FilterSubjects; !slices.Equal(got, want) {
			return fmt.Errorf("filter %v, want %v", got, want)
		}
		return nil
	})
}

// TestFollowerHandsOverToASweep follows a lane's accounts as the router
// does: an account added is covered only for what is stored after its
// filter took effect, the idle subject goes at once, and an account that
// leaves stays in the filter until what the consumer holds is settled.
func TestFollowerHandsOverToASweep(t *testing.T) {
	h := newHub(t)
	const idle = "xd.in._none.>"
	var want atomic.Pointer[[]string]
	want.Store(&[]string{idle})
	f := &bus.Follower{Want: func() []string { return *want.Load() }, Handover: true, Idle: idle}
	cfg := config("lane")
	cfg.Follow = f
	release := make(chan struct{})
	releaseAll := sync.OnceFunc(func() { close(release) })
	got := make(chan *event.Event, 10)
	h.consume(t, cfg, func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		got <- d.Event
		<-release
		return nil, nil
	})
	// Registered after consume's, so it runs first: a test that fails
	// while a message is held lets Consume stop.
	t.Cleanup(releaseAll)
	h.filtersAre(t, "lane", idle)
	before := h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "acme-0"))

	want.Store(&[]string{"xd.in.acme.>"})
	h.filtersAre(t, "lane", "xd.in.acme.>")
	bustest.CheckFor(t, wait, func() error {
		if !f.Covers("xd.in.acme.>", before+1000) {
			return fmt.Errorf("acme is not covered yet")
		}
		return nil
	})
	if f.Covers("xd.in.acme.>", before) {
		t.Errorf("Covers(acme, #%d) = true for an event stored before the filter took effect", before)
	}
	held := h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "acme-1"))
	if !f.Covers("xd.in.acme.>", held) || f.Covers("xd.in.globex.>", held) {
		t.Errorf("Covers(#%d): acme %v, globex %v; want acme only", held, f.Covers("xd.in.acme.>", held), f.Covers("xd.in.globex.>", held))
	}
	// acme-0 may be delivered too: whether a consumer goes back over what
	// its filter did not match is the server's affair, which is why the
	// sweep routes what a lane does not cover.
	for bustest.Next(t, got, wait).ID() != "acme-1" {
	}

	// acme leaves while acme-1 is held: it stays beside globex.
	want.Store(&[]string{"xd.in.globex.>"})
	h.filtersAre(t, "lane", "xd.in.acme.>", "xd.in.globex.>")
	releaseAll()
	h.filtersAre(t, "lane", "xd.in.globex.>")
}
