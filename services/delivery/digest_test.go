package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
)

// batch returns the ids of the n-th digest the receiver accepted.
func (rc *receiver) batch(n int) ([]string, string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, ev := range rc.batches[n] {
		out = append(out, ev.ID())
	}
	return out, rc.digests[n]
}

func (rc *receiver) digestCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.batches)
}

func TestADigestAcrossARestartLosesAndRepeatsNothing(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("umbrella", "stable", hook, "")))
	svc, stop := e.start(Config{NoExperiments: true})
	ctx := context.Background()
	flush := func(svc *Service) DigestResult {
		t.Helper()
		var res DigestResult
		bustest.CheckFor(t, 10*time.Second, func() error {
			var err error
			res, err = svc.Flush(ctx, "umbrella")
			return err // ErrNotBatched until the worker runs
		})
		return res
	}

	for _, id := range ids("u", 1, 5) {
		e.publish("umbrella", "order.accepted", id)
	}
	if res := flush(svc); res.Events != 5 || res.Posts != 1 {
		t.Fatalf("first flush sent %+v, want 5 events in 1 POST", res)
	}
	for _, id := range ids("u", 6, 8) {
		e.publish("umbrella", "order.accepted", id)
	}
	stop() // a restart between two digests

	svc2, _ := e.start(Config{NoExperiments: true})
	if res := flush(svc2); res.Events != 3 {
		t.Fatalf("flush after the restart sent %+v, want the 3 new events", res)
	}
	if res := flush(svc2); res.Events != 0 || res.Posts != 0 {
		t.Errorf("a flush with nothing new sent %+v, want nothing", res)
	}
	if got := hook.got(); len(got) != 0 {
		t.Errorf("a batched account got single events %v", got)
	}
	if n := hook.digestCount(); n != 2 {
		t.Fatalf("receiver got %d digests, want 2", n)
	}
	first, id1 := hook.batch(0)
	second, id2 := hook.batch(1)
	if !slices.Equal(first, ids("u", 1, 5)) || !slices.Equal(second, ids("u", 6, 8)) {
		t.Errorf("digests %v and %v, want u-001..u-005 then u-006..u-008", first, second)
	}
	if id1 == "" || id1 == id2 {
		t.Errorf("digest ids %q and %q, want two different ids", id1, id2)
	}
}

func TestADigestIsSentEveryPeriodByItself(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("umbrella", "stable", hook, "    policy: {digest_every: 50ms}\n")))
	e.start(Config{NoExperiments: true})
	for _, id := range ids("p", 1, 3) {
		e.publish("umbrella", "order.accepted", id)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		n := 0
		for _, b := range hook.batches {
			n += len(b)
		}
		if n < 3 {
			return fmt.Errorf("%d events in digests, want 3", n)
		}
		return nil
	})
}

func TestFlushRefusesAnAccountWithoutBatchedDelivery(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("acme", "strategic", hook, "")))
	svc, _ := e.start(Config{NoExperiments: true})
	if _, err := svc.Flush(context.Background(), "acme"); !errors.Is(err, ErrNotBatched) {
		t.Errorf("Flush(acme) = %v, want ErrNotBatched", err)
	}
}

func TestATierChangeBetweenRealtimeAndBatchedSendsNothingTwice(t *testing.T) {
	hook := newReceiver(t, "k")
	realtime := accountsFile(account("acme", "strategic", hook, ""))
	batched := accountsFile(account("acme", "stable", hook, ""))
	e := newEnv(t, realtime)
	svc, _ := e.start(Config{NoExperiments: true})
	mine := func(ids []string) []string {
		return slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !strings.HasPrefix(id, "t-") })
	}

	for _, id := range ids("t", 1, 3) {
		e.publish("acme", "order.accepted", id)
	}
	hook.waitFor(3)
	// A tier change takes effect within Config.Reconcile: wait for it.
	e.apply(batched) // demoted: digests from now on
	bustest.CheckFor(t, 10*time.Second, func() error {
		_, err := svc.Flush(context.Background(), "acme")
		return err
	})
	for _, id := range ids("t", 4, 5) {
		e.publish("acme", "order.accepted", id)
	}
	if _, err := svc.Flush(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	e.apply(realtime) // promoted again
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, err := svc.Flush(context.Background(), "acme"); !errors.Is(err, ErrNotBatched) {
			return fmt.Errorf("still batched: %v", err)
		}
		return nil
	})
	e.publish("acme", "order.accepted", "t-006")
	bustest.CheckFor(t, 10*time.Second, func() error {
		if got := mine(hook.got()); len(got) < 4 {
			return fmt.Errorf("single deliveries %v", got)
		}
		return nil
	})
	if got := mine(hook.got()); !slices.Equal(got, []string{"t-001", "t-002", "t-003", "t-006"}) {
		t.Errorf("single deliveries %v, want t-001..t-003 then t-006", got)
	}
	var digested []string
	for i := range hook.digestCount() {
		b, _ := hook.batch(i)
		digested = append(digested, mine(b)...)
	}
	if !slices.Equal(digested, []string{"t-004", "t-005"}) {
		t.Errorf("digested %v, want t-004 and t-005", digested)
	}
}

func TestTwoDeliveryProcessesSendEachDigestOnce(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("umbrella", "stable", hook, "    policy: {digest_every: 20ms}\n")))
	e.start(Config{NoExperiments: true})
	e.start(Config{NoExperiments: true}) // a second process, same consumers and cursors
	want := ids("d", 1, 40)
	for _, id := range want {
		e.publish("umbrella", "order.accepted", id)
	}
	var got []string
	bustest.CheckFor(t, 15*time.Second, func() error {
		got = nil
		for i := range hook.digestCount() {
			b, _ := hook.batch(i)
			got = append(got, b...)
		}
		if len(got) < len(want) {
			return fmt.Errorf("%d events in digests, want %d", len(got), len(want))
		}
		return nil
	})
	if !slices.Equal(got, want) {
		t.Errorf("digests held %v,\nwant each event once and in order %v", got, want)
	}
}
