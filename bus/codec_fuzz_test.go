package bus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
)

// checkDecoded holds Decode to its promise for any input: an event that
// validates, or a *DecodeError with a code the consume loop can name a DLQ
// subject after. An event it accepts survives Encode and Decode again, since
// the router moves events on unchanged.
func checkDecoded(t *testing.T, msg *nats.Msg, ev *event.Event, err error) {
	t.Helper()
	if err != nil {
		var de *bus.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("Decode error %v (%T), want a *DecodeError", err, err)
		}
		if de.Code != bus.CodeInvalidJSON && de.Code != bus.CodeSchemaViolation {
			t.Fatalf("Decode error code %q, want invalid_json or schema_violation", de.Code)
		}
		if ev != nil {
			t.Fatalf("Decode returned an event with error %v", err)
		}
		return
	}
	if ev == nil {
		t.Fatalf("Decode(%q) = nil, nil", msg.Data)
	}
	if err := ev.Validate(); err != nil {
		t.Fatalf("Decode(%q) returned an invalid event: %v", msg.Data, err)
	}
	again, err := bus.Decode(bus.Encode(msg.Subject, ev))
	if err != nil {
		t.Fatalf("Decode(Encode(ev)) of an accepted event: %v\nevent: %s", err, ev)
	}
	// The sdk's attribute setters, which read binary mode, trim surrounding
	// space (and NATS headers cannot carry it), while its structured reader
	// keeps it: compare what survives either way.
	trim := strings.TrimSpace
	if again.ID() != trim(ev.ID()) || again.Type() != trim(ev.Type()) || again.Source() != ev.Source() {
		t.Fatalf("Decode(Encode(ev)) = %q/%q/%q, want %q/%q/%q", again.ID(), again.Type(), again.Source(), ev.ID(), ev.Type(), ev.Source())
	}
}

// FuzzDecode feeds arbitrary bodies to Decode as structured-mode messages.
// Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range []nats.Header{nil, {"content-type": {bus.ContentTypeStructured}}} {
			msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Header: h, Data: body}
			ev, err := bus.Decode(msg)
			checkDecoded(t, msg, ev, err)
		}
	})
}

// FuzzDecodeBinary feeds arbitrary ce- header values and bodies to Decode as
// binary-mode messages.
func FuzzDecodeBinary(f *testing.F) {
	f.Add("1.0", "po-417", "crossdock.order.placed.v1", "/accounts/acme", "2026-02-27T14:03:09.123456789Z", "application/json", "account", "acme", []byte(`{"po_number":"PO-1"}`))
	f.Add("1.0", "ship-9", "crossdock.shipment.dispatched.v1", "/warehouses/dc-east", "", "", "traceparent", traceparent, []byte(`{}`))
	f.Add("0.3", "x", "t", "s", "2026-02-27T14:03:09+01:00", "text/plain", "causationid", "po-1", []byte("hello"))
	f.Add("1.0", " ", "t", "::not a uri", "yesterday", "application/json; charset=utf-8", "Bad-Name", "v", []byte(nil))
	f.Add("2.0", "x", "t", "s", "", "", "", "", []byte(`not json`))
	f.Add("1.0", "x", "t", "/s", "", "", "specversion", "0.3", []byte(`[]`))
	f.Fuzz(func(t *testing.T, specversion, id, typ, source, tm, contentType, extName, extValue string, body []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{
			"ce-specversion": specversion, "ce-id": id, "ce-type": typ, "ce-source": source,
			"ce-time": tm, "content-type": contentType, "ce-" + extName: extValue,
		} {
			if v != "" {
				h.Set(k, v)
			}
		}
		msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Header: h, Data: body}
		ev, err := bus.Decode(msg)
		checkDecoded(t, msg, ev, err)
	})
}
