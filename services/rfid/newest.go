package rfid

import (
	"context"
	"sync"
)

// newest lets the batches one process handles at once share what they write
// to a track. A reader's consecutive batches name mostly the same tags, and
// the bus hands them to several workers at once: without it, each batch
// reads a track at the revision before the others' writes, and all but one
// of its writers conflict, re-read and decide again (in the storm benchmark
// the re-reads were a quarter of the service's CPU).
//
// A batch enters every key it will step before it reads the tracks, and
// leaves them when it is done. While any batch is in, the key's slot holds a
// lock taken around each step and write, and the newest track this process
// wrote or read. A write made by this process is therefore either already in
// the bucket when another batch reads it, or in the slot that batch will
// look at: only other processes' writes conflict. Writes stay
// revision-checked, so a slot that another process has overtaken costs a
// conflict and a re-read, never a wrong track; and a batch decides on the
// newer of its read and the slot, so a storm's repeat is judged on a state at
// least as new as the batched read gave.
type newest struct {
	mu    sync.Mutex
	slots map[string]*slot
}

// slot is one key's lock and newest known track.
type slot struct {
	refs int           // batches in; guarded by newest.mu
	lock chan struct{} // a token: held while stepping and writing the key
	k    known         // guarded by lock
	set  bool          // whether k holds anything; guarded by lock
}

// enter registers a batch's interest in keys and returns their slots, in
// order. Every enter is matched by one leave.
func (n *newest) enter(keys []string) []*slot {
	out := make([]*slot, len(keys))
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.slots == nil {
		n.slots = map[string]*slot{}
	}
	for i, k := range keys {
		s := n.slots[k]
		if s == nil {
			s = &slot{lock: make(chan struct{}, 1)}
			n.slots[k] = s
		}
		s.refs++
		out[i] = s
	}
	return out
}

// leave ends a batch's interest in keys; a slot no batch is in is dropped.
func (n *newest) leave(keys []string, slots []*slot) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, k := range keys {
		s := slots[i]
		if s.refs--; s.refs == 0 {
			delete(n.slots, k)
		}
	}
}

// acquire takes the slot's lock, or gives up when ctx ends.
func (s *slot) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slot) release() { <-s.lock }

// newer returns the newer of k and the slot's track; the lock is held.
func (s *slot) newer(k known) known {
	if s.set && s.k.rev > k.rev {
		return s.k
	}
	return k
}

// keep records k as the key's newest known track unless the slot knows a
// newer one; the lock is held.
func (s *slot) keep(k known) {
	if !s.set || k.rev > s.k.rev {
		s.k, s.set = k, true
	}
}
