package rfid

import (
	"testing"
	"time"
)

const (
	item = "urn:epc:id:sgtin:0614141.812345.6789"
	dock = "urn:epc:id:sgln:0614141.00000.dock"
	back = "urn:epc:id:sgln:0614141.00000.back"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func at(secs ...float64) []time.Time {
	out := make([]time.Time, len(secs))
	for i, s := range secs {
		out[i] = t0.Add(time.Duration(s * float64(time.Second)))
	}
	return out
}

func TestStep(t *testing.T) {
	cases := []struct {
		name   string
		before []struct {
			rp    string
			times []time.Time
		}
		rp       string
		times    []time.Time
		window   time.Duration
		observed int
		moveFrom string
		location string
	}{
		{name: "a first read storm is one observation", rp: dock, times: at(0, 0.1, 0.5, 4.9), window: 5 * time.Second, observed: 1, location: dock},
		{name: "reads spanning two windows are two observations", rp: dock, times: at(0, 1, 5, 6), window: 5 * time.Second, observed: 2, location: dock},
		{name: "reads out of order dedupe the same", rp: dock, times: at(4.9, 0, 2), window: 5 * time.Second, observed: 1, location: dock},
		{name: "a read within the window of an earlier batch is no observation",
			before: []struct {
				rp    string
				times []time.Time
			}{{dock, at(0)}}, rp: dock, times: at(3), window: 5 * time.Second, observed: 0, location: dock},
		{name: "a read after the window of an earlier batch is a new observation",
			before: []struct {
				rp    string
				times []time.Time
			}{{dock, at(0)}}, rp: dock, times: at(6), window: 5 * time.Second, observed: 1, location: dock},
		{name: "a read at another read point is a move",
			before: []struct {
				rp    string
				times []time.Time
			}{{dock, at(0)}}, rp: back, times: at(1), window: 5 * time.Second, observed: 1, moveFrom: dock, location: back},
		{name: "a late read at another read point is history, not a move",
			before: []struct {
				rp    string
				times []time.Time
			}{{dock, at(100)}}, rp: back, times: at(1), window: 5 * time.Second, observed: 1, location: dock},
		{name: "a longer window folds more reads",
			rp: dock, times: at(0, 10, 20), window: 30 * time.Second, observed: 1, location: dock},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tr *Track
			for i, b := range tc.before {
				tr, _, _ = Step(tr, item, b.rp, "r1", "before-"+string(rune('a'+i)), b.times, tc.window)
			}
			next, observed, move := Step(tr, item, tc.rp, "r1", "batch", tc.times, tc.window)
			if len(observed) != tc.observed {
				t.Errorf("observed %v, want %d observations", observed, tc.observed)
			}
			if (move == nil) != (tc.moveFrom == "") || (move != nil && (move.From != tc.moveFrom || move.To != tc.rp)) {
				t.Errorf("move = %+v, want from %q to %s", move, tc.moveFrom, tc.rp)
			}
			if next.Location != tc.location {
				t.Errorf("location = %s, want %s", next.Location, tc.location)
			}
		})
	}
}

func TestStepAnswersARedeliveryAsBefore(t *testing.T) {
	tr, _, _ := Step(nil, item, dock, "r1", "first", at(0), 5*time.Second)
	next, observed, move := Step(tr, item, back, "r1", "second", at(10, 11), 5*time.Second)
	if len(observed) != 1 || move == nil {
		t.Fatalf("second batch: observed %v, move %v", observed, move)
	}
	again, observed2, move2 := Step(next, item, back, "r1", "second", at(10, 11), 5*time.Second)
	if again != next || len(observed2) != 1 || move2 == nil || *move2 != *move {
		t.Errorf("redelivery: observed %v move %+v, want the first answer %v %+v", observed2, move2, observed, move)
	}
}

func TestStepKeepsRecentBounded(t *testing.T) {
	var tr *Track
	for i := range 3 * RecentMax {
		tr, _, _ = Step(tr, item, dock, "r1", "b"+string(rune('A'+i)), at(float64(i*10)), 5*time.Second)
	}
	if len(tr.Recent) != RecentMax {
		t.Fatalf("recent has %d observations, want %d", len(tr.Recent), RecentMax)
	}
	if last := tr.Recent[RecentMax-1].Time; !last.Equal(tr.LastSeen) {
		t.Errorf("newest recent observation %s, want the last seen %s", last, tr.LastSeen)
	}
}

func TestBizLocationAndLocationURI(t *testing.T) {
	cases := []struct{ name, in, biz, uri string }{
		{"an SGLN with an extension has the extension-less SGLN as business location", "urn:epc:id:sgln:0614141.00000.dock3", "urn:epc:id:sgln:0614141.00000.0", "urn:epc:id:sgln:0614141.00000.dock3"},
		{"a GLN is written as its Digital Link", "0614141000005", "0614141000005", "https://id.gs1.org/414/0614141000005"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := BizLocation(tc.in); got != tc.biz {
				t.Errorf("BizLocation(%s) = %s, want %s", tc.in, got, tc.biz)
			}
			if got := LocationURI(tc.in); got != tc.uri {
				t.Errorf("LocationURI(%s) = %s, want %s", tc.in, got, tc.uri)
			}
		})
	}
}
