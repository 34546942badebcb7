package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

const wait = 20 * time.Second

// run runs r until the test ends.
func run(t *testing.T, r *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}

// store stores an order.placed of account in XD_IN as the intake relay
// does, and returns its stream sequence.
func store(t *testing.T, js jetstream.JetStream, account, id, shipTo string) uint64 {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(schemas.OrderPlaced)
	ev.SetSource("/accounts/" + account)
	if err := ev.SetData(event.ApplicationJSON, order(shipTo, 1)); err != nil {
		t.Fatal(err)
	}
	msg := bus.Encode(bus.StoreSubject(bus.Sender{Account: account}, "order.placed"), &ev)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(account+":"+id))
	if err != nil {
		t.Fatalf("store %s: %v", id, err)
	}
	return ack.Sequence
}

// count is how many messages stream holds on subject.
func count(t *testing.T, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// TestTheSweepRoutesWhatNoLaneCovers holds the sweep to its guarantee:
// every intake event is routed or rejected, those no lane is delivered
// included.
func TestTheSweepRoutesWhatNoLaneCovers(t *testing.T) {
	r, reg := newRouter(t)
	js := r.bus.JetStream()
	run(t, r)
	bustest.CheckFor(t, wait, func() error {
		for _, l := range r.lanes {
			for _, key := range r.wanted(l.name) {
				if !l.follow.Covers(key, 1<<62) {
					return fmt.Errorf("lane %s does not cover %s yet", l.name, key)
				}
			}
		}
		return nil
	})

	t.Run("an event of an account the registry does not know is rejected to the DLQ", func(t *testing.T) {
		store(t, js, "hooli", "h-1", "0614141000005")
		bustest.CheckFor(t, wait, func() error {
			if n := count(t, js, bus.StreamDLQ, "xd.dlq.hooli.unknown_account"); n != 1 {
				return fmt.Errorf("%d dead letters, want 1", n)
			}
			if n := count(t, js, bus.StreamOut, "xd.out.hooli.event.rejected"); n != 1 {
				return fmt.Errorf("%d rejections, want 1", n)
			}
			return nil
		})
	})

	t.Run("events stored before a new account's lane covers it are routed, each once", func(t *testing.T) {
		var bulk *lane
		for _, l := range r.lanes {
			if l.name == "bulk" {
				bulk = l
			}
		}
		// The lane may take up a new account before its first event is
		// stored, leaving the sweep nothing to do; then a further new
		// account is tried, so that the sweep's part is always tested.
		yaml := accountsYAML
		for attempt := 0; ; attempt++ {
			if attempt == 5 {
				t.Fatal("in 5 attempts the lane always covered the new account before its first event: the sweep was never tested")
			}
			id := fmt.Sprintf("newco%d", attempt)
			yaml += fmt.Sprintf("  - {id: %s, name: Newco, tier: stable, locations: [{gln: \"0614141000067\", type: dc, warehouse: dc-west}]}\n", id)
			accountstest.Apply(t, reg, yaml)
			// Stored one after another from the moment the registry knows
			// the account until its lane covers it, then five more.
			filter := "xd.in." + id + ".>"
			first, n := store(t, js, id, id+"-0", "0614141000067"), 1
			for extra := 0; extra < 5; n++ {
				seq := store(t, js, id, fmt.Sprintf("%s-%d", id, n), "0614141000067")
				if bulk.follow.Covers(filter, seq) {
					extra++
				}
				time.Sleep(5 * time.Millisecond) // a customer's pace, not a wait for an outcome
			}
			if since, _ := bulk.follow.Since(filter); first > since {
				t.Logf("the lane covered %s from #%d, before its first event (#%d): nothing for the sweep", id, since, first)
				continue
			}
			bustest.CheckFor(t, wait, func() error {
				if got := count(t, js, bus.StreamRouted, "xd.routed.stable."+id+".order.placed"); got != uint64(n) {
					return fmt.Errorf("%d of %s's %d orders routed", got, id, n)
				}
				return nil
			})
			if got := count(t, js, bus.StreamDLQ, "xd.dlq."+id+".>"); got != 0 {
				t.Errorf("%d of %s's orders dead-lettered, want none", got, id)
			}
			return
		}
	})
}

// TestTheSweepTakesOverFromTheOldDurableSweep starts the sweep where the
// durable consumer it used to be stopped: what that one acknowledged is
// not judged again, what it had not is, and the consumer no longer holds
// any message.
func TestTheSweepTakesOverFromTheOldDurableSweep(t *testing.T) {
	r, _ := newRouter(t)
	js := r.bus.JetStream()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	old, err := js.CreateConsumer(ctx, bus.StreamIn, jetstream.ConsumerConfig{Durable: sweepDurable, FilterSubjects: []string{bus.AllIn}, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"h-1", "h-2", "h-3"} {
		store(t, js, "hooli", id, "0614141000005")
	}
	batch, err := old.Fetch(2)
	if err != nil {
		t.Fatal(err)
	}
	var held []jetstream.Msg
	for m := range batch.Messages() {
		held = append(held, m)
	}
	if len(held) != 2 {
		t.Fatalf("fetched %d, want 2", len(held))
	}
	if err := held[0].DoubleAck(ctx); err != nil { // h-1 acknowledged, h-2 held
		t.Fatal(err)
	}

	run(t, r)
	bustest.CheckFor(t, wait, func() error {
		if n := count(t, js, bus.StreamDLQ, "xd.dlq.hooli.unknown_account"); n != 2 {
			return fmt.Errorf("%d dead letters, want 2 (h-2 and h-3)", n)
		}
		c, err := js.Consumer(ctx, bus.StreamIn, sweepDurable)
		if err != nil {
			return err
		}
		info := c.CachedInfo()
		if info.NumAckPending != 0 || info.Config.Metadata[metadataSwept] == "" {
			return fmt.Errorf("consumer %s: %d awaiting ack, metadata %v; want none awaiting and a position", sweepDurable, info.NumAckPending, info.Config.Metadata)
		}
		return nil
	})
	if got := count(t, js, bus.StreamOut, "xd.out.hooli.event.rejected"); got != 2 {
		t.Errorf("%d rejections, want 2: h-1 was the old sweep's", got)
	}
}
