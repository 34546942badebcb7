package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/intake"
)

// FuzzHTTPAttributes feeds arbitrary ids, traceparents and bodies to the
// HTTP decode path (sel%3: binary, structured, batch) and checks the door's
// promise: every input is either an event within the limits, stored under
// the id it was sent with and in headers JetStream takes, or refused with a
// code. Seeds in testdata/fuzz/FuzzHTTPAttributes hold the attacks.
func FuzzHTTPAttributes(f *testing.F) {
	f.Fuzz(func(t *testing.T, sel byte, id, traceparent string, body []byte) {
		m := mode(sel % 3)
		h := http.Header{}
		if m == modeBinary {
			h["ce-specversion"] = []string{"1.0"}
			h["ce-id"] = []string{id}
			h["ce-source"] = []string{"/accounts/acme"}
			h["ce-type"] = []string{"crossdock.order.placed.v1"}
			if traceparent != "" {
				h["ce-traceparent"] = []string{traceparent}
			}
			h.Set("Content-Type", "application/json")
		}
		events, errs := decodeRequest(context.Background(), m, h, body)
		for i, e := range errs {
			if e.Code == "" {
				t.Fatalf("problem %d has no code: %+v", i, e)
			}
		}
		for i, ev := range events {
			if ev == nil {
				continue
			}
			if p := intake.CheckLimits(ev); p != nil {
				t.Errorf("event %d was read but is over the limits: %+v", i, p)
			}
			if !utf8.ValidString(ev.ID()) {
				t.Errorf("event %d has an id that is not UTF-8: %q", i, ev.ID())
			}
			if m == modeBinary && ev.ID() != id {
				t.Errorf("event %d was read with id %q, sent %q: rewritten", i, ev.ID(), id)
			}
			msg := bus.Encode(bus.StoreSubject(bus.Sender{Account: "acme"}, "order.placed"), ev)
			msg.Header = storedHeader(msg.Header, IntakeKey(bus.Sender{Account: "acme"}, ev.ID()))
			if n := headerSize(msg.Header); n > MaxHeaderBytes {
				t.Errorf("event %d is stored with %d bytes of headers, over %d", i, n, MaxHeaderBytes)
			}
		}
	})
}

// fuzzSubjects are the subjects FuzzRelay publishes on, picked by sel.
var fuzzSubjects = []string{"xd.in.acme.order.placed", "xd.in.wh.dc-east.shipment.dispatched", "xd.raw.acme.csv", "xd.in.acme"}

// FuzzRelay feeds arbitrary messages to the relay's decision (sel picks the
// subject and binary or structured mode) and checks that every one is
// either stored, under a key scoped by its sender that fits JetStream's
// headers with the rest, or refused with a code.
func FuzzRelay(f *testing.F) {
	f.Fuzz(func(t *testing.T, sel byte, id, extra string, body []byte) {
		subject := fuzzSubjects[int(sel)%len(fuzzSubjects)]
		h := nats.Header{}
		if sel&0x80 != 0 {
			h["ce-specversion"] = []string{"1.0"}
			h["ce-id"] = []string{id}
			h["ce-type"] = []string{"crossdock.order.placed.v1"}
		} else if id != "" {
			h["Nats-Msg-Id"] = []string{id}
		}
		if extra != "" {
			h["ce-traceparent"] = []string{extra}
			h["X-Extra"] = []string{extra}
		}
		from := bus.SenderOf(nil, subject)
		key, named, p := intakeKey(from, strings.HasPrefix(subject, "xd.raw."), h, body)
		if p != nil {
			if p.Code == "" || p.Message == "" {
				t.Fatalf("refusal without a code or message: %+v", p)
			}
			if len(p.Message) > 512 {
				t.Errorf("the refusal's message is %d bytes: it repeats the input", len(p.Message))
			}
			return
		}
		scope := IntakeKey(from, "")
		if !strings.HasPrefix(key, scope) || len(key) == len(scope) {
			t.Fatalf("key %q is not scoped by the sender (%q)", key, scope)
		}
		if len(key)-len(scope) > max(intake.MaxIDBytes, len("sha256:")+64) || !utf8.ValidString(key) {
			t.Errorf("key %q is over the id limit or not UTF-8", key)
		}
		if named != "" && key != IntakeKey(from, named) {
			t.Errorf("key %q does not name the id %q", key, named)
		}
		if n := headerSize(storedHeader(h, key)); n > MaxHeaderBytes+len("Nats-Msg-Id")+len(key) {
			t.Errorf("stored with %d bytes of headers", n)
		}
	})
}
