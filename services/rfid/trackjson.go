package rfid

import (
	"encoding/json"
	"slices"
	"time"
)

// A track is read for every EPC of every batch and written for each new
// observation; encoding/json's reflection, and its re-validation of every
// time a Time marshals, was a sixth of the service's CPU in the storm
// benchmark. appendJSON and decodeTrack do the same by hand for the tracks
// the service writes, and hand anything else to encoding/json: the stored
// bytes are those encoding/json writes (FuzzTrackJSON compares them), and a
// track in any other form is still read.

// appendJSON appends t as json.Marshal writes it.
func (t *Track) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"epc":`...)
	b = appendString(b, t.EPC)
	if t.Location != "" {
		b = append(b, `,"location":`...)
		b = appendString(b, t.Location)
	}
	var err error
	if !t.Since.IsZero() {
		b = append(b, `,"since":`...)
		if b, err = appendTime(b, t.Since); err != nil {
			return json.Marshal(t) // its error, with its wording
		}
	}
	if !t.LastSeen.IsZero() {
		b = append(b, `,"last_seen":`...)
		if b, err = appendTime(b, t.LastSeen); err != nil {
			return json.Marshal(t)
		}
	}
	if len(t.Windows) > 0 {
		b = append(b, `,"windows":{`...)
		keys := make([]string, 0, len(t.Windows))
		for k := range t.Windows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendTime(b, t.Windows[k]); err != nil {
				return json.Marshal(t)
			}
		}
		b = append(b, '}')
	}
	if len(t.Recent) > 0 {
		b = append(b, `,"recent":[`...)
		for i, o := range t.Recent {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"read_point":`...)
			b = appendString(b, o.ReadPoint)
			b = append(b, `,"time":`...)
			if b, err = appendTime(b, o.Time); err != nil {
				return json.Marshal(t)
			}
			b = append(b, `,"reader":`...)
			b = appendString(b, o.Reader)
			b = append(b, `,"event_id":`...)
			b = appendString(b, o.EventID)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if t.Last != nil {
		b = append(b, `,"last_batch":{"event_id":`...)
		b = appendString(b, t.Last.EventID)
		if len(t.Last.Observed) > 0 {
			b = append(b, `,"observed":[`...)
			for i, tm := range t.Last.Observed {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = appendTime(b, tm); err != nil {
					return json.Marshal(t)
				}
			}
			b = append(b, ']')
		}
		if m := t.Last.Move; m != nil {
			b = append(b, `,"move":{"from":`...)
			b = appendString(b, m.From)
			b = append(b, `,"to":`...)
			b = appendString(b, m.To)
			b = append(b, `,"time":`...)
			if b, err = appendTime(b, m.Time); err != nil {
				return json.Marshal(t)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	return b, nil
}

// appendString appends s quoted as encoding/json quotes it: a string of
// printable ASCII that needs no escape is copied, any other is left to
// encoding/json (HTML-safe escapes, invalid UTF-8, U+2028).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends tm as its MarshalJSON writes it (RFC 3339 with
// nanoseconds, an error out of its range).
func appendTime(b []byte, tm time.Time) ([]byte, error) {
	b = append(b, '"')
	b, err := tm.AppendText(b)
	return append(b, '"'), err
}

// decodeTrack reads a track from the bytes appendJSON writes; a track in
// any other form (other key order, escapes, unknown keys, JSON nulls) is
// read by encoding/json, with its answer.
func decodeTrack(data []byte) (*Track, error) {
	d := trackDecoder{b: data}
	if t, ok := d.track(); ok {
		return t, nil
	}
	var t Track
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// trackDecoder reads the exact shape appendJSON writes; any surprise
// answers !ok.
type trackDecoder struct {
	b []byte
	i int
}

func (d *trackDecoder) track() (*Track, bool) {
	t := &Track{}
	if !d.lit(`{"epc":`) {
		return nil, false
	}
	var ok bool
	if t.EPC, ok = d.str(); !ok {
		return nil, false
	}
	if d.lit(`,"location":`) {
		if t.Location, ok = d.str(); !ok {
			return nil, false
		}
	}
	if d.lit(`,"since":`) {
		if t.Since, ok = d.time(); !ok {
			return nil, false
		}
	}
	if d.lit(`,"last_seen":`) {
		if t.LastSeen, ok = d.time(); !ok {
			return nil, false
		}
	}
	if d.lit(`,"windows":{`) {
		t.Windows = map[string]time.Time{}
		for first := true; !d.lit(`}`); first = false {
			if !first && !d.lit(`,`) {
				return nil, false
			}
			k, ok := d.str()
			if !ok || !d.lit(`:`) {
				return nil, false
			}
			if _, dup := t.Windows[k]; dup {
				return nil, false
			}
			if t.Windows[k], ok = d.time(); !ok {
				return nil, false
			}
		}
	}
	if d.lit(`,"recent":[`) {
		t.Recent = []Observation{}
		for first := true; !d.lit(`]`); first = false {
			if !first && !d.lit(`,`) {
				return nil, false
			}
			var o Observation
			if !d.lit(`{"read_point":`) {
				return nil, false
			}
			if o.ReadPoint, ok = d.str(); !ok || !d.lit(`,"time":`) {
				return nil, false
			}
			if o.Time, ok = d.time(); !ok || !d.lit(`,"reader":`) {
				return nil, false
			}
			if o.Reader, ok = d.str(); !ok || !d.lit(`,"event_id":`) {
				return nil, false
			}
			if o.EventID, ok = d.str(); !ok || !d.lit(`}`) {
				return nil, false
			}
			t.Recent = append(t.Recent, o)
		}
	}
	if d.lit(`,"last_batch":{"event_id":`) {
		t.Last = &Batch{}
		if t.Last.EventID, ok = d.str(); !ok {
			return nil, false
		}
		if d.lit(`,"observed":[`) {
			t.Last.Observed = []time.Time{}
			for first := true; !d.lit(`]`); first = false {
				if !first && !d.lit(`,`) {
					return nil, false
				}
				tm, ok := d.time()
				if !ok {
					return nil, false
				}
				t.Last.Observed = append(t.Last.Observed, tm)
			}
		}
		if d.lit(`,"move":{"from":`) {
			m := &Move{}
			if m.From, ok = d.str(); !ok || !d.lit(`,"to":`) {
				return nil, false
			}
			if m.To, ok = d.str(); !ok || !d.lit(`,"time":`) {
				return nil, false
			}
			if m.Time, ok = d.time(); !ok || !d.lit(`}`) {
				return nil, false
			}
			t.Last.Move = m
		}
		if !d.lit(`}`) {
			return nil, false
		}
	}
	return t, d.lit(`}`) && d.i == len(d.b)
}

// lit reads s if it comes next.
func (d *trackDecoder) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (d *trackDecoder) str() (string, bool) {
	if !d.lit(`"`) {
		return "", false
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		if c == '"' {
			s := string(d.b[start:d.i])
			d.i++
			return s, true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return "", false
		}
	}
	return "", false
}

// time reads a quoted time as encoding/json does for a time.Time field:
// by its UnmarshalJSON, given the quoted bytes.
func (d *trackDecoder) time() (time.Time, bool) {
	if !d.lit(`"`) {
		return time.Time{}, false
	}
	start := d.i - 1
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		if c == '"' {
			d.i++
			var tm time.Time
			if err := tm.UnmarshalJSON(d.b[start:d.i]); err != nil {
				return time.Time{}, false
			}
			return tm, true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}
