// Package adaptertest is the conformance kit of adapters: every adapter's own
// test calls Run with the adapter and a few sample payloads, and the kit
// checks the rules every adapter keeps, the way Watermill's pubsub tests
// check every Pub/Sub:
//
//   - Info is complete: a valid format name, content types, the event types
//     it makes (known to schemas/), who may send it.
//   - Every event decoded is a valid CloudEvent whose data passes its JSON
//     Schema, of a type the adapter says it makes, with the sender's source
//     and account.
//   - Ids are stable: decoding the same payload again gives the same ids (a
//     resent file is not a second order), distinct within a payload, and
//     different for another sender.
//   - Failures are an *adapters.Error whose problems each carry a stable
//     code and name the line or segment at fault.
//   - No panic on garbage: empty input, binary noise, and every sample cut
//     short at many points (Decode, and Acknowledge when the adapter has it).
//   - An Encoder lists what it encodes and refuses anything else.
package adaptertest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

// Case is one sample payload and what decoding it must give.
type Case struct {
	// Name reads as a sentence: "an 850 with two lines is one order".
	Name  string
	Input adapters.Input
	// Events is the number of events Decode must return.
	Events int
	// Fields, when not empty, means Decode must fail for some units: each
	// string must occur in the Field of some problem (e.g. "segment 7",
	// "line 3"). Events still counts the units that decoded.
	Fields []string
}

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Run checks a against the rules every adapter keeps, with cases as samples.
// Give at least one case that decodes and one that fails.
func Run(t *testing.T, a adapters.Adapter, cases []Case) {
	t.Helper()
	v, err := schemas.New()
	if err != nil {
		t.Fatalf("schemas: %v", err)
	}
	info := a.Info()
	t.Run("info describes the format", func(t *testing.T) {
		checkInfo(t, info, v)
	})
	t.Run("registers in a fresh registry under its format", func(t *testing.T) {
		r := adapters.NewRegistry()
		r.Register(a)
		if got, ok := r.Lookup(info.Format); !ok || got == nil {
			t.Errorf("Lookup(%q) after Register found nothing", info.Format)
		}
	})
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			evs, err := decode(t, a, c.Input)
			checkOutcome(t, c, evs, err)
			for i, ev := range evs {
				checkEvent(t, info, c.Input, i, ev, v)
			}
			checkStable(t, a, c.Input, evs)
		})
	}
	t.Run("garbage and truncated payloads fail cleanly", func(t *testing.T) {
		in := adapters.Input{Account: "kit-account"}
		if len(cases) > 0 {
			in = cases[0].Input
		}
		for _, g := range garbage(cases) {
			in.Data = g
			evs, err := decode(t, a, in)
			if err != nil {
				checkError(t, err)
			}
			for i, ev := range evs {
				checkEvent(t, info, in, i, ev, v)
			}
			if ack, ok := a.(adapters.Acknowledger); ok {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("Acknowledge panicked on %q: %v", clip(g), r)
						}
					}()
					_, _ = ack.Acknowledge(g, in, 1)
				}()
			}
		}
	})
	if enc, ok := a.(adapters.Encoder); ok {
		t.Run("the encoder refuses what it cannot write", func(t *testing.T) {
			if len(info.Encodes) == 0 {
				t.Error("the adapter is an Encoder but Info.Encodes is empty")
			}
			if _, err := enc.Encode(nil, adapters.Party{Account: "kit-account"}); err == nil {
				t.Error("Encode(no events) succeeded")
			}
			ev := event.New()
			ev.SetID("kit-1")
			ev.SetSource("/crossdock/kit")
			ev.SetType(schemas.RFIDObserved)
			if slices.Contains(info.Encodes, ev.Type()) {
				return
			}
			if _, err := enc.Encode([]*event.Event{&ev}, adapters.Party{Account: "kit-account"}); err == nil {
				t.Errorf("Encode(%s) succeeded, which is not in Info.Encodes", ev.Type())
			}
		})
	}
}

// decode calls Decode and turns a panic into a test failure naming the input.
func decode(t *testing.T, a adapters.Adapter, in adapters.Input) (evs []*event.Event, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode panicked on %q: %v", clip(in.Data), r)
		}
	}()
	return a.Decode(in)
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

func checkInfo(t *testing.T, info adapters.Info, v *schemas.Validator) {
	t.Helper()
	r := adapters.NewRegistry()
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("format name %q is refused: %v", info.Format, p)
			}
		}()
		r.Register(stub{info})
	}()
	if info.Description == "" {
		t.Error("Info.Description is empty")
	}
	if len(info.ContentTypes) == 0 {
		t.Error("Info.ContentTypes is empty: say what media types the format is sent as")
	}
	if len(info.Takes) == 0 {
		t.Error("Info.Takes is empty: say what documents the adapter reads")
	}
	if len(info.Makes) == 0 {
		t.Error("Info.Makes is empty: name the event types Decode produces")
	}
	for _, typ := range append(slices.Clone(info.Makes), info.Encodes...) {
		if !v.Known(typ) {
			t.Errorf("Info names %q, which is not an event type of the hub", typ)
		}
	}
	if len(info.Senders) == 0 {
		t.Error("Info.Senders is empty")
	}
	for _, s := range info.Senders {
		if s != adapters.SenderAccounts && s != adapters.SenderWarehouses {
			t.Errorf("Info.Senders has %q; want %q or %q", s, adapters.SenderAccounts, adapters.SenderWarehouses)
		}
	}
}

type stub struct{ info adapters.Info }

func (s stub) Info() adapters.Info                         { return s.info }
func (stub) Decode(adapters.Input) ([]*event.Event, error) { return nil, nil }

func checkOutcome(t *testing.T, c Case, evs []*event.Event, err error) {
	t.Helper()
	if len(evs) != c.Events {
		t.Errorf("Decode made %d events, want %d (error: %v)", len(evs), c.Events, err)
	}
	if len(c.Fields) == 0 {
		if err != nil {
			t.Errorf("Decode failed: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Decode succeeded; want problems at %q", c.Fields)
	}
	ps := checkError(t, err)
	for _, f := range c.Fields {
		if !slices.ContainsFunc(ps, func(p problem.Problem) bool { return strings.Contains(p.Field, f) }) {
			t.Errorf("no problem names %q; problems: %+v", f, ps)
		}
	}
}

// checkError checks that err is an *adapters.Error whose problems have a code,
// a message and a place.
func checkError(t *testing.T, err error) []problem.Problem {
	t.Helper()
	var e *adapters.Error
	if !errors.As(err, &e) {
		t.Errorf("Decode returned %T (%v); want *adapters.Error", err, err)
		return nil
	}
	if len(e.Problems) == 0 {
		t.Error("Decode returned an *adapters.Error with no problems")
	}
	for _, p := range e.Problems {
		if !codePattern.MatchString(p.Code) {
			t.Errorf("problem %+v: code %q is not a snake_case code", p, p.Code)
		}
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
		if p.Field == "" {
			t.Errorf("problem %q names no line or segment (Field is empty)", p.Message)
		}
	}
	return e.Problems
}

func checkEvent(t *testing.T, info adapters.Info, in adapters.Input, i int, ev *event.Event, v *schemas.Validator) {
	t.Helper()
	if ev == nil {
		t.Errorf("event %d is nil", i)
		return
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("event %d is not a valid CloudEvent: %v", i, err)
	}
	if !slices.Contains(info.Makes, ev.Type()) {
		t.Errorf("event %d has type %s, not in Info.Makes %v", i, ev.Type(), info.Makes)
	}
	if ev.DataContentType() != event.ApplicationJSON {
		t.Errorf("event %d datacontenttype = %q, want %s", i, ev.DataContentType(), event.ApplicationJSON)
	}
	if err := v.Validate(ev.Type(), ev.Data()); err != nil {
		t.Errorf("event %d (%s) breaks its schema: %v\ndata: %s", i, ev.Type(), err, ev.Data())
	}
	if got, want := ev.Source(), in.Source(); got != want {
		t.Errorf("event %d source = %q, want %q", i, got, want)
	}
	if in.Warehouse == "" {
		if got := envelope.Account(ev); got != in.Account {
			t.Errorf("event %d account = %q, want the sender %q", i, got, in.Account)
		}
	} else if envelope.Account(ev) == "" {
		t.Errorf("event %d from warehouse %s names no account", i, in.Warehouse)
	}
}

// checkStable decodes again, and for another sender, and compares ids.
func checkStable(t *testing.T, a adapters.Adapter, in adapters.Input, first []*event.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range first {
		if seen[ev.ID()] {
			t.Errorf("id %s is made twice from one payload", ev.ID())
		}
		seen[ev.ID()] = true
	}
	again, _ := decode(t, a, in)
	if len(again) != len(first) {
		t.Fatalf("decoding again made %d events, first %d", len(again), len(first))
	}
	for i := range first {
		if first[i].ID() != again[i].ID() {
			t.Errorf("event %d: id %s, then %s on the same payload: a resent file would be a second order", i, first[i].ID(), again[i].ID())
		}
		if !bytes.Equal(first[i].Data(), again[i].Data()) {
			t.Errorf("event %d: data differs between two decodings of one payload", i)
		}
	}
	other := in
	if other.Warehouse != "" {
		other.Warehouse += "-other"
	} else {
		other.Account += "-other"
	}
	for i, ev := range func() []*event.Event { evs, _ := decode(t, a, other); return evs }() {
		if i < len(first) && ev.ID() == first[i].ID() {
			t.Errorf("event %d: id %s is the same for another sender; ids must be scoped by sender", i, ev.ID())
		}
	}
}

// garbage is noise and every sample cut short.
func garbage(cases []Case) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 512)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	out := [][]byte{nil, {}, []byte("\x00\x00\x00"), noise, []byte(strings.Repeat("A", 70000)),
		[]byte("\xef\xbb\xbf"), []byte("\r\n\r\n"), []byte(`{"not":"this format"}`)}
	for _, c := range cases {
		d := c.Input.Data
		step := max(1, len(d)/40)
		for n := 0; n < len(d); n += step {
			out = append(out, d[:n])
		}
		// a byte flipped in the middle
		if len(d) > 2 {
			m := slices.Clone(d)
			m[len(m)/2] ^= 0x5a
			out = append(out, m)
		}
	}
	return out
}

// Fields lists the Field of every problem in err, for golden files.
func Fields(err error) []string {
	var out []string
	for _, p := range adapters.Problems(err) {
		out = append(out, fmt.Sprintf("%s: %s: %s", p.Field, p.Code, p.Message))
	}
	return out
}
