package router

import "sync"

// An intake event can be given to two of the router's consumers: to its
// lane and to the sweep, when the sweep cannot yet tell that the lane
// covers it (sweep.go). Both used to republish it to XD_ROUTED, where
// JetStream stored it once. Now that a lane hands an event straight to a
// service of this process, both would handle it: the outcome is the same
// (the service's writes are conditional and its answers' ids derived, so
// JetStream stores them once), but the work is done twice and an answer is
// published twice. So the first of this process's consumers to be given an
// event claims it by its XD_IN sequence and handles it, and the other
// settles its own copy untouched. That is safe because each keeps coming
// back to its copy until it is settled: a lane's copy stays unacknowledged
// until what it produced is stored and is redelivered after a failure or a
// crash; the sweep moves its position past an event only once it is
// settled. Claims are in memory, for the last claimWindow events: two
// processes, or a sweep further behind than that, may still both handle an
// event, as harmlessly as before.

// claimWindow is how many intake events' claims are remembered.
const claimWindow = 1 << 16

// claims remembers which consumer of this process took each recent intake
// event.
type claims struct {
	mu   sync.Mutex
	by   map[uint64]string // XD_IN sequence → durable name
	ring [claimWindow]uint64
	next int
}

// take reports whether durable may handle the event stored at seq: true
// when no other consumer of this process has claimed it, which it now
// does; always true when JetStream did not say the sequence.
func (c *claims) take(seq uint64, durable string) bool {
	if seq == 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if by, ok := c.by[seq]; ok {
		return by == durable
	}
	if c.by == nil {
		c.by = make(map[uint64]string, claimWindow)
	}
	if old := c.ring[c.next]; old != 0 {
		delete(c.by, old)
	}
	c.ring[c.next] = seq
	c.next = (c.next + 1) % claimWindow
	c.by[seq] = durable
	return true
}
