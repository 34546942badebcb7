package lanes

import (
	"context"
	"testing"
	"time"
)

// enter starts a bulk event's entry in the background and returns the
// channel its leave func comes on once it is in.
func enter(q *gate) <-chan func() {
	in := make(chan func(), 1)
	go func() { in <- q.enterBulk(context.Background()) }()
	return in
}

// mustWait checks that no bulk event has come in by the time a second
// probe, entered after it, could be seen.
func mustWait(t *testing.T, in <-chan func(), why string) {
	t.Helper()
	select {
	case <-in:
		t.Fatalf("a bulk event came in %s", why)
	case <-time.After(50 * time.Millisecond):
	}
}

func mustEnter(t *testing.T, in <-chan func(), why string) func() {
	t.Helper()
	select {
	case leave := <-in:
		return leave
	case <-time.After(10 * time.Second):
		t.Fatalf("no bulk event came in %s", why)
		return nil
	}
}

// TestGateServesThePriorityLaneFirst: a bulk event waits while a
// priority event is handled, and goes once none is.
func TestGateServesThePriorityLaneFirst(t *testing.T) {
	t.Parallel()
	q := newGate(2, time.Hour)
	first, second := q.enterPriority(), q.enterPriority()
	bulk := enter(q)
	mustWait(t, bulk, "while two priority events were handled")
	first()
	mustWait(t, bulk, "while one priority event was still handled")
	second()
	mustEnter(t, bulk, "once no priority event was handled")()
}

// TestGateBoundsTheBulkLane: at most slots bulk events are handled at
// once; the next goes when one leaves.
func TestGateBoundsTheBulkLane(t *testing.T) {
	t.Parallel()
	q := newGate(2, time.Hour)
	a := mustEnter(t, enter(q), "into a free slot")
	b := mustEnter(t, enter(q), "into the second slot")
	c := enter(q)
	mustWait(t, c, "with both slots taken")
	a()
	mustEnter(t, c, "once a slot was freed")()
	b()
}

// TestGateDoesNotHoldTheBulkLanePastMaxWait: a priority lane that is
// never idle holds a bulk event for maxWait at most, so that it is not
// redelivered for want of an outcome.
func TestGateDoesNotHoldTheBulkLanePastMaxWait(t *testing.T) {
	t.Parallel()
	q := newGate(1, 20*time.Millisecond)
	defer q.enterPriority()()
	mustEnter(t, enter(q), "after maxWait")()
}

// TestGateLetsGoOnCancel: a bulk event waiting when its consumer stops
// is let in, to be handled and settled as shutdown asks.
func TestGateLetsGoOnCancel(t *testing.T) {
	t.Parallel()
	q := newGate(1, time.Hour)
	defer q.enterPriority()()
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan func(), 1)
	go func() { in <- q.enterBulk(ctx) }()
	mustWait(t, in, "before its context ended")
	cancel()
	mustEnter(t, in, "once its context ended")()
}
