package lanes

import (
	"context"
	"sync"
	"time"
)

// gate serves the lanes of one process in strict priority: a bulk event
// is handled only while no priority event is, and at most slots bulk
// events are handled at once.
type gate struct {
	slots   int
	maxWait time.Duration

	mu       sync.Mutex
	priority int           // priority events admitted and not yet done
	bulk     int           // bulk events admitted and not yet done
	wake     chan struct{} // closed, and replaced, when a waiting bulk event may go
}

func newGate(slots int, maxWait time.Duration) *gate {
	return &gate{slots: slots, maxWait: maxWait, wake: make(chan struct{})}
}

// enterPriority counts a priority event in; the func it returns counts it
// out.
func (q *gate) enterPriority() func() {
	q.mu.Lock()
	q.priority++
	q.mu.Unlock()
	return func() {
		q.mu.Lock()
		q.priority--
		if q.priority == 0 {
			q.signal()
		}
		q.mu.Unlock()
	}
}

// enterBulk waits until a bulk event may be handled, and counts it in;
// the func it returns counts it out. After maxWait it stops waiting for
// the priority lane, so that a lane that always has work cannot hold a
// bulk event past its AckWait.
func (q *gate) enterBulk(ctx context.Context) func() {
	overdue := false
	var deadline <-chan time.Time
	for {
		q.mu.Lock()
		if q.bulk < q.slots && (q.priority == 0 || overdue) || ctx.Err() != nil {
			q.bulk++
			q.mu.Unlock()
			return q.leaveBulk
		}
		w := q.wake
		q.mu.Unlock()
		if deadline == nil {
			t := time.NewTimer(q.maxWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-w:
		case <-deadline:
			overdue = true
		case <-ctx.Done():
		}
	}
}

func (q *gate) leaveBulk() {
	q.mu.Lock()
	q.bulk--
	q.signal()
	q.mu.Unlock()
}

// signal wakes every waiting bulk event; q.mu is held.
func (q *gate) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}
