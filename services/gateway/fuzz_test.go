package gateway

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"
	"unicode"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// fuzzContentTypes are the Content-Type headers a binary-mode request is
// fuzzed with, picked by the selector byte.
var fuzzContentTypes = []string{"application/json", "", "text/plain; charset=utf-8", "application/json; charset=utf-8"}

// FuzzDecodeRequest feeds arbitrary bodies to decodeRequest in each mode
// (sel%3: binary, structured, batch) and checks what it promises the
// handler: it does not panic, every event it returns is a valid CloudEvent
// 1.0 that the hub's consumers can read back once stored, and every slot it
// could not fill has a problem that says why.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		m := mode(sel % 3)
		h := http.Header{}
		if m == modeBinary {
			h.Set("ce-specversion", "1.0")
			h.Set("ce-id", "fz-1")
			h.Set("ce-source", "/accounts/acme")
			h.Set("ce-type", "crossdock.order.placed.v1")
			if ct := fuzzContentTypes[int(sel/3)%len(fuzzContentTypes)]; ct != "" {
				h.Set("Content-Type", ct)
			}
		}
		events, errs := decodeRequest(context.Background(), m, h, body)

		if len(events) == 0 && len(errs) == 0 {
			t.Fatalf("decodeRequest(mode %d, %q) returned no event and no problem", m, body)
		}
		if m != modeBatch && len(events) != 1 {
			t.Fatalf("decodeRequest(mode %d, %q) returned %d event slots, want 1", m, body, len(events))
		}
		for i, e := range errs {
			if e.Code == "" || e.Message == "" {
				t.Errorf("decodeRequest(mode %d, %q) problem %d = %+v, want a code and a message", m, body, i, e)
			}
			if m != modeBatch && e.Index != nil {
				t.Errorf("decodeRequest(mode %d, %q) problem %d has index %d outside a batch", m, body, i, *e.Index)
			}
			if m == modeBatch && len(events) > 0 && (e.Index == nil || *e.Index < 0 || *e.Index >= len(events)) {
				t.Errorf("decodeRequest(batch, %q) problem %d = %+v, want the index of one of its %d events", body, i, e, len(events))
			}
		}
		for i, ev := range events {
			problems := problemsAt(m, errs, i)
			if ev == nil {
				if problems == 0 {
					t.Errorf("decodeRequest(mode %d, %q) event %d is nil with no problem", m, body, i)
				}
				continue
			}
			if problems > 0 {
				t.Errorf("decodeRequest(mode %d, %q) event %d was read but has %d problems", m, body, i, problems)
			}
			if err := ev.Validate(); err != nil {
				t.Errorf("decodeRequest(mode %d, %q) event %d does not validate: %v", m, body, i, err)
			}
			if v := ev.SpecVersion(); v != event.CloudEventsVersionV1 {
				t.Errorf("decodeRequest(mode %d, %q) event %d has specversion %q, want %s", m, body, i, v, event.CloudEventsVersionV1)
			}
			// CloudEvents 1.0 strings hold no control characters, and NATS
			// headers could not store them unchanged.
			attrs := []any{ev.ID(), ev.Source(), ev.Type(), ev.Subject(), ev.DataSchema(), ev.DataContentType()}
			for _, v := range ev.Extensions() {
				attrs = append(attrs, v)
			}
			for _, a := range attrs {
				if s, ok := a.(string); ok && strings.ContainsFunc(s, unicode.IsControl) {
					t.Errorf("decodeRequest(mode %d, %q) event %d has attribute value %q with a control character", m, body, i, s)
				}
			}
			// What the gateway stores, the router must be able to read.
			back, err := bus.Decode(bus.Encode("xd.in.acme.order.placed", ev))
			if err != nil {
				t.Errorf("decodeRequest(mode %d, %q) event %d cannot be read back once stored: %v", m, body, i, err)
				continue
			}
			got, want := stringAttributes(back), stringAttributes(ev)
			if want["datacontenttype"] == "" {
				// Decode reads absent as JSON; Check refuses it before then.
				delete(got, "datacontenttype")
				delete(want, "datacontenttype")
			}
			if !maps.Equal(got, want) {
				t.Errorf("decodeRequest(mode %d, %q) event %d reads back with attributes %q, want %q", m, body, i, got, want)
			}
		}
	})
}

// stringAttributes are ev's attributes and extensions that are strings, by
// name: what binary mode must carry unchanged.
func stringAttributes(ev *event.Event) map[string]string {
	m := map[string]string{"id": ev.ID(), "source": ev.Source(), "type": ev.Type(), "subject": ev.Subject(),
		"dataschema": ev.DataSchema(), "datacontenttype": ev.DataContentType()}
	for k, v := range ev.Extensions() {
		if s, ok := v.(string); ok {
			m[k] = s
		}
	}
	return m
}

// problemsAt counts the problems of event slot i: in a batch those with its
// index, otherwise all of them.
func problemsAt(m mode, errs []problem.EventErrors, i int) int {
	if m != modeBatch {
		return len(errs)
	}
	n := 0
	for _, e := range errs {
		if e.Index != nil && *e.Index == i {
			n++
		}
	}
	return n
}
