package lanes

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

// TestEachLaneHasItsOwnConsumer runs the lanes of the default tiers and
// checks that each lane's durable consumer takes its tiers' events and only
// those.
func TestEachLaneHasItsOwnConsumer(t *testing.T) {
	b := bustest.New(t, bustest.RunServer(t, ""))
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]string{} // event id → subject
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, b, accounts.DefaultTiers(), Consumer{
			Service: "test", Source: "/crossdock/test", Names: []string{"thing.done"},
			Sizes: map[accounts.Lane]Size{accounts.Bulk: {Workers: 1}},
			Handler: func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				mu.Lock()
				seen[d.Event.ID()] = d.Subject
				mu.Unlock()
				return nil, nil
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	for _, tier := range accounts.Tiers {
		publishThing(t, b, tier)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < len(accounts.Tiers) {
			return bustest.ErrNotYet
		}
		return nil
	})

	want := map[string][]string{
		"test-priority": {"xd.routed.strategic.*.thing.done"},
		"test-standard": {"xd.routed.integrated.*.thing.done", "xd.routed.emerging.*.thing.done"},
		"test-bulk":     {"xd.routed.stable.*.thing.done"},
	}
	for name, subjects := range want {
		c, err := b.JetStream().Consumer(context.Background(), bus.StreamRouted, name)
		if err != nil {
			t.Fatalf("consumer %s: %v", name, err)
		}
		got := c.CachedInfo().Config.FilterSubjects
		if !slices.Equal(got, subjects) {
			t.Errorf("consumer %s filters %v, want %v", name, got, subjects)
		}
	}
}

// publishThing routes a thing.done event of account a in tier's lane, with
// the tier as its id.
func publishThing(t *testing.T, b *bus.Bus, tier accounts.Tier) {
	t.Helper()
	publishThingAs(t, b, tier, string(tier))
}

// TestTheBulkLaneKeepsOneMessagePerWorkerInFlight: a priority worker takes
// its next event while the last one's output is being stored; a bulk worker
// waits, so that a flood holds as little of the server as it can at once.
func TestTheBulkLaneKeepsOneMessagePerWorkerInFlight(t *testing.T) {
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	// The test answers the outputs' JetStream publishes itself (no stream
	// takes xd.test.hold.>), when it chooses.
	nc := bustest.Connect(t, s)
	held := make(chan *nats.Msg, 16)
	if _, err := nc.Subscribe("xd.test.hold.>", func(m *nats.Msg) { held <- m }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, b, accounts.DefaultTiers(), Consumer{
			Service: "test", Source: "/crossdock/test", Names: []string{"thing.done"},
			Sizes: map[accounts.Lane]Size{accounts.Priority: {Workers: 1}, accounts.Bulk: {Workers: 1}},
			Handler: func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				out := d.Event.Clone()
				out.SetID(d.Event.ID() + "-out")
				return []bus.Outgoing{{Subject: "xd.test.hold." + d.Event.ID(), Event: &out}}, nil
			},
		})
	}()
	t.Cleanup(func() {
		// Outputs still held keep Run from returning: answer them.
		cancel()
		for {
			select {
			case m := <-held:
				_ = m.Respond([]byte(`{"stream":"XD_TEST","seq":1}`))
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
				return
			case <-time.After(10 * time.Second):
				t.Error("Run did not return")
				return
			}
		}
	})

	next := func(what string) *nats.Msg {
		t.Helper()
		select {
		case m := <-held:
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no output: %s", what)
			return nil
		}
	}
	for _, id := range []string{"p1", "p2"} {
		publishThingAs(t, b, accounts.Strategic, id)
	}
	first, second := next("priority p1"), next("priority p2 while p1's output is unacknowledged")
	for _, m := range []*nats.Msg{first, second} {
		_ = m.Respond([]byte(`{"stream":"XD_TEST","seq":1}`))
	}

	for _, id := range []string{"b1", "b2"} {
		publishThingAs(t, b, accounts.Stable, id)
	}
	first = next("bulk b1")
	// Watching for a while can only miss a bulk worker that does not wait,
	// never invent one.
	select {
	case m := <-held:
		t.Fatalf("bulk output %s published while %s's was unacknowledged", m.Subject, first.Subject)
	case <-time.After(200 * time.Millisecond):
	}
	_ = first.Respond([]byte(`{"stream":"XD_TEST","seq":1}`))
	_ = next("bulk b2 once b1 was settled").Respond([]byte(`{"stream":"XD_TEST","seq":2}`))
}

// publishThingAs routes a thing.done event with id of account a in tier's lane.
func publishThingAs(t *testing.T, b *bus.Bus, tier accounts.Tier, id string) {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetSource("/accounts/a")
	ev.SetType("crossdock.thing.done.v1")
	_ = ev.SetData(event.ApplicationJSON, map[string]any{})
	if _, err := b.Publish(context.Background(), bus.Outgoing{Subject: "xd.routed." + string(tier) + ".a.thing.done", Event: &ev}); err != nil {
		t.Fatal(err)
	}
}
