package rfid

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fuzzTrack builds a track from fuzzed parts: strings (any bytes), times
// (any instant, in UTC or a zone) and which fields are set.
func fuzzTrack(epc, rp, reader string, sec, nsec int64, zone int16, set uint8) *Track {
	tm := time.Unix(sec, nsec%1e9)
	if zone != 0 {
		tm = tm.In(time.FixedZone("", int(zone)*60))
	} else {
		tm = tm.UTC()
	}
	t := &Track{EPC: epc}
	if set&1 != 0 {
		t.Location, t.Since, t.LastSeen = rp, tm, tm.Add(time.Second)
	}
	if set&2 != 0 {
		t.Windows = map[string]time.Time{rp: tm, reader: tm.Add(-time.Hour)}
	}
	if set&4 != 0 {
		t.Recent = []Observation{{ReadPoint: rp, Time: tm, Reader: reader, EventID: epc}, {ReadPoint: reader, Time: tm.Add(time.Minute), Reader: rp, EventID: ""}}
	}
	if set&8 != 0 {
		t.Last = &Batch{EventID: reader}
		if set&16 != 0 {
			t.Last.Observed = []time.Time{tm, tm.Add(time.Millisecond)}
		}
		if set&32 != 0 {
			t.Last.Move = &Move{From: rp, To: reader, Time: tm}
		}
	}
	if set&64 != 0 {
		t.Windows = map[string]time.Time{}
		t.Recent = []Observation{}
	}
	return t
}

// FuzzTrackJSON: appendJSON writes what json.Marshal writes (or fails
// as it does), and decodeTrack reads what json.Unmarshal reads, both from
// those bytes and from any bytes.
func FuzzTrackJSON(f *testing.F) {
	f.Add("urn:epc:id:sgtin:0614141.812345.6789", "urn:epc:id:sgln:0614141.00000.dock", "r1", int64(1764657809), int64(123456789), int16(0), uint8(255))
	f.Add("a<b>&\"c\\", "é\u2028", "\xff", int64(-62135596800), int64(0), int16(-90), uint8(15))
	f.Add("", "", "", int64(253402300800), int64(1), int16(1439), uint8(63))
	f.Add("x", "y", "z", int64(0), int64(999999999), int16(60), uint8(64))
	f.Fuzz(func(t *testing.T, epc, rp, reader string, sec, nsec int64, zone int16, set uint8) {
		tr := fuzzTrack(epc, rp, reader, sec, nsec, zone, set)
		want, werr := json.Marshal(tr)
		got, gerr := tr.appendJSON(nil)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("appendJSON = %s, %v; json.Marshal = %s, %v", got, gerr, want, werr)
		}
		for _, data := range [][]byte{want, []byte(epc), []byte(rp + reader)} {
			var std Track
			serr := json.Unmarshal(data, &std)
			dt, derr := decodeTrack(data)
			if (serr != nil) != (derr != nil) {
				t.Fatalf("decodeTrack(%q): error %v; json.Unmarshal: %v", data, derr, serr)
			}
			if serr == nil && !reflect.DeepEqual(*dt, std) {
				t.Fatalf("decodeTrack(%q) = %+v; json.Unmarshal = %+v", data, *dt, std)
			}
		}
	})
}

// TestDecodeTrackTakesTheFastPathForWhatItWrites: a track the service
// writes is read without encoding/json, and any other spelling of it still
// reads the same.
func TestDecodeTrackTakesTheFastPathForWhatItWrites(t *testing.T) {
	tr := fuzzTrack("urn:epc:id:sgtin:0614141.812345.6789", "urn:epc:id:sgln:0614141.00000.dock", "r1", 1764657809, 123456789, 60, 63)
	b, err := tr.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := trackDecoder{b: b}
	if _, ok := d.track(); !ok {
		t.Errorf("the fast path refused %s", b)
	}
	var spaced bytes.Buffer
	if err := json.Indent(&spaced, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	got, err := decodeTrack(spaced.Bytes())
	if err != nil || !reflect.DeepEqual(got, tr) {
		t.Errorf("an indented track read as %+v, %v; want %+v", got, err, tr)
	}
}
