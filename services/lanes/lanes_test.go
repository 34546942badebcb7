package lanes

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

// TestEachLaneHasItsOwnConsumer runs the lanes of the default tiers and
// checks that each lane's durable consumer takes its tiers' events and only
// those.
func TestEachLaneHasItsOwnConsumer(t *testing.T) {
	t.Parallel()
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
	ev := event.New()
	ev.SetID(string(tier))
	ev.SetSource("/accounts/a")
	ev.SetType("crossdock.thing.done.v1")
	_ = ev.SetData(event.ApplicationJSON, map[string]any{})
	if _, err := b.Publish(context.Background(), bus.Outgoing{Subject: "xd.routed." + string(tier) + ".a.thing.done", Event: &ev}); err != nil {
		t.Fatal(err)
	}
}

// TestTheBulkLaneRunsOnItsOwnConnection: with GovernorConfig.Bulk, the
// bulk lane's consumer pulls on that bus's connection, which the lanes
// use for nothing else.
func TestTheBulkLaneRunsOnItsOwnConnection(t *testing.T) {
	t.Parallel()
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	bulk, err := b.Using(bustest.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	g := NewGovernor(GovernorConfig{Slots: 2, Bulk: bulk})
	handled := make(chan string, 4)
	stop := bustest.Run(t, func(ctx context.Context) error {
		return Run(ctx, b, accounts.DefaultTiers(), Consumer{
			Service: "test", Source: "/crossdock/test", Names: []string{"thing.done"}, Governor: g,
			Handler: func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				handled <- d.Event.ID()
				return nil, nil
			},
		})
	})
	defer stop()
	next := func() string {
		t.Helper()
		select {
		case id := <-handled:
			return id
		case <-time.After(10 * time.Second):
			t.Fatal("nothing handled")
			return ""
		}
	}
	publishThing(t, b, accounts.Strategic)
	if id := next(); id != string(accounts.Strategic) {
		t.Fatalf("handled %s, want strategic", id)
	}
	publishThing(t, b, accounts.Stable)
	if id := next(); id != string(accounts.Stable) {
		t.Fatalf("handled %s, want stable", id)
	}
	if n := bulk.Conn().Stats().InMsgs; n == 0 {
		t.Error("the bulk connection received nothing, though the stable event was delivered")
	}
}
