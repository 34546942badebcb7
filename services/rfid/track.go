// Package rfid is the RFID service: it takes crossdock.rfid.observed.v1
// batches of raw tag reads from its tier lanes, decodes each EPC by the GS1
// Tag Data Standard (package epc), folds read storms into observations (one
// per EPC and read point within a dedupe window), publishes each batch's new
// observations as one GS1 EPCIS 2.0 ObjectEvent (crossdock.epcis.captured.v1),
// keeps the last known location of every EPC in a KV bucket and announces a
// move with crossdock.rfid.location.changed.v1. GET /v1/rfid/epcs/{epc}
// answers an EPC's location and recent observations to its account.
package rfid

import (
	"slices"
	"time"
)

// DefaultWindow is the dedupe window when neither the policy
// (rfid_dedupe_window) nor the reader's configuration names one.
const DefaultWindow = 5 * time.Second

// RecentMax is how many observations an EPC's track keeps for the read API.
const RecentMax = 20

// windowHorizon is how long a read point's dedupe window start is kept in a
// track after the EPC was last observed: far beyond any sensible window, so
// that pruning never changes an answer, and short enough that a track does
// not grow with every read point the item ever passed.
const windowHorizon = 24 * time.Hour

// Observation is one EPC seen at one read point: the first read of a read
// storm.
type Observation struct {
	ReadPoint string    `json:"read_point"`
	Time      time.Time `json:"time"`
	Reader    string    `json:"reader"`
	EventID   string    `json:"event_id"` // the rfid.observed batch it came in
}

// Move is a change of an EPC's last known location.
type Move struct {
	From string    `json:"from"`
	To   string    `json:"to"`
	Time time.Time `json:"time"`
}

// Batch is what the last batch that wrote a track decided for it, kept so
// that a redelivered batch answers exactly as the first delivery did (its
// dedupe windows are already written, so re-deciding would find only
// duplicates and publish nothing).
type Batch struct {
	EventID  string      `json:"event_id"`
	Observed []time.Time `json:"observed,omitempty"`
	Move     *Move       `json:"move,omitempty"`
}

// Track is the state of one EPC of one account, one KV entry: where it was
// last seen, the open dedupe window per read point, and its recent
// observations. Dedupe state and location live in the same entry so that one
// revision-checked write per EPC and batch updates both, atomically.
type Track struct {
	EPC      string               `json:"epc"`
	Location string               `json:"location,omitempty"` // read point of the latest observation
	Since    time.Time            `json:"since,omitzero"`     // when it was first observed there
	LastSeen time.Time            `json:"last_seen,omitzero"` // the latest observation
	Windows  map[string]time.Time `json:"windows,omitempty"`  // read point → start of its dedupe window
	Recent   []Observation        `json:"recent,omitempty"`   // oldest first, at most RecentMax
	Last     *Batch               `json:"last_batch,omitempty"`
}

// Step is the pure core of the service for one EPC of one batch: given the
// EPC's track (nil when never seen), the batch's read times of it at
// readPoint (any order) and the dedupe window, it returns the new track, the
// times of the new observations (a read opens one when no window at this read
// point is open within `window` of it) and the move, if the EPC's location
// changed. A redelivery of the batch that last wrote the track returns that
// batch's decision unchanged.
func Step(t *Track, epc, readPoint, reader, eventID string, times []time.Time, window time.Duration) (next *Track, observed []time.Time, move *Move) {
	if t != nil && t.Last != nil && t.Last.EventID == eventID {
		return t, t.Last.Observed, t.Last.Move
	}
	// Decide first, on t as it is: most of a storm's EPCs have nothing new
	// and need no copy of their track. The times come sorted from most
	// readers; they are copied only to be sorted.
	sorted := times
	if !slices.IsSortedFunc(times, func(a, b time.Time) int { return a.Compare(b) }) {
		sorted = slices.Clone(times)
		slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	}
	var start time.Time
	var open bool
	if t != nil {
		start, open = t.Windows[readPoint]
	}
	for _, tm := range sorted {
		if open && absDur(tm.Sub(start)) < window {
			continue // same read storm
		}
		observed = append(observed, tm)
		if !open || tm.After(start) {
			start, open = tm, true
		}
	}
	if len(observed) == 0 {
		return t, nil, nil
	}
	n := &Track{EPC: epc}
	if t != nil {
		*n = *t
		n.Windows = make(map[string]time.Time, len(t.Windows)+1)
		for k, v := range t.Windows {
			n.Windows[k] = v
		}
		n.Recent = slices.Clone(t.Recent)
	} else {
		n.Windows = map[string]time.Time{}
	}
	n.Windows[readPoint] = start
	for _, tm := range observed {
		n.Recent = append(n.Recent, Observation{ReadPoint: readPoint, Time: tm, Reader: reader, EventID: eventID})
		if tm.Before(n.LastSeen) {
			continue // a late read: history, not the current location
		}
		if n.Location != readPoint {
			if n.Location != "" && move == nil {
				move = &Move{From: n.Location, To: readPoint, Time: tm}
			}
			n.Location, n.Since = readPoint, tm
		}
		n.LastSeen = tm
	}
	slices.SortStableFunc(n.Recent, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	if len(n.Recent) > RecentMax {
		n.Recent = n.Recent[len(n.Recent)-RecentMax:]
	}
	for rp, s := range n.Windows {
		if n.LastSeen.Sub(s) > windowHorizon {
			delete(n.Windows, rp)
		}
	}
	n.Last = &Batch{EventID: eventID, Observed: observed, Move: move}
	return n, observed, move
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
