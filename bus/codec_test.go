package bus_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
)

// checkSame reports every attribute, extension and data byte in which got
// differs from want.
func checkSame(t *testing.T, got, want *event.Event) {
	t.Helper()
	for _, c := range []struct{ name, got, want string }{
		{"ID", got.ID(), want.ID()},
		{"Type", got.Type(), want.Type()},
		{"Source", got.Source(), want.Source()},
		{"SpecVersion", got.SpecVersion(), want.SpecVersion()},
		{"DataContentType", got.DataContentType(), want.DataContentType()},
	} {
		if c.got != c.want {
			t.Errorf("%s() = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !got.Time().Equal(want.Time()) {
		t.Errorf("Time() = %v, want %v", got.Time(), want.Time())
	}
	for _, name := range []string{bus.ExtAccount, bus.ExtCausationID, bus.ExtTraceparent} {
		g, w := got.Extensions()[name], want.Extensions()[name]
		if g != w {
			t.Errorf("extension %s = %v, want %v", name, g, w)
		}
	}
	if !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("Data() = %s, want %s", got.Data(), want.Data())
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	order := orderPlaced(t, "po-417")
	answer, err := bus.NewEvent(order, bus.Type("order.accepted"), "", "/crossdock/orders", map[string]string{"order_id": "o-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   *event.Event
	}{
		{"a customer's order keeps its attributes, extensions and data", order},
		{"an event the hub makes keeps its causationid and traceparent", answer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := bus.Encode("xd.in.acme.order.placed", tc.ev)
			if msg.Subject != "xd.in.acme.order.placed" {
				t.Errorf("Encode subject = %q, want xd.in.acme.order.placed", msg.Subject)
			}
			if got := msg.Header.Get("ce-specversion"); got != "1.0" {
				t.Errorf("Encode header ce-specversion = %q, want 1.0 (binary mode)", got)
			}
			if !bytes.Equal(msg.Data, tc.ev.Data()) {
				t.Errorf("Encode body = %s, want the data %s", msg.Data, tc.ev.Data())
			}
			got, err := bus.Decode(msg)
			if err != nil {
				t.Fatalf("Decode(Encode(ev)) error: %v", err)
			}
			checkSame(t, got, tc.ev)
		})
	}
}

func TestDecodeStructured(t *testing.T) {
	body := []byte(`{
		"specversion": "1.0",
		"id": "po-417",
		"type": "crossdock.order.placed.v1",
		"source": "/accounts/acme",
		"time": "2026-02-27T14:03:09.123456789Z",
		"account": "acme",
		"traceparent": "` + traceparent + `",
		"datacontenttype": "application/json",
		"data": {"po_number": "PO-2024-000417", "lines": [{"line": 1, "gtin": "00614141123452", "quantity": 12, "unit": "CA"}]}
	}`)
	want := event.New()
	want.SetID("po-417")
	want.SetType("crossdock.order.placed.v1")
	want.SetSource("/accounts/acme")
	want.SetTime(time.Date(2026, 2, 27, 14, 3, 9, 123456789, time.UTC))
	want.SetExtension(bus.ExtAccount, "acme")
	want.SetExtension(bus.ExtTraceparent, traceparent)
	want.SetDataContentType(event.ApplicationJSON)

	tests := []struct {
		name   string
		header nats.Header
	}{
		{"a structured event with its content type is read", nats.Header{"content-type": {bus.ContentTypeStructured}}},
		{"a structured event without headers is read", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bus.Decode(&nats.Msg{Subject: "xd.in.acme.order.placed", Header: tc.header, Data: body})
			if err != nil {
				t.Fatalf("Decode(structured) error: %v", err)
			}
			// The data is the JSON of the event's data member, as sent.
			var data struct {
				PONumber string `json:"po_number"`
				Lines    []struct {
					GTIN string `json:"gtin"`
				} `json:"lines"`
			}
			if err := got.DataAs(&data); err != nil {
				t.Fatalf("DataAs: %v (data %s)", err, got.Data())
			}
			if data.PONumber != "PO-2024-000417" || len(data.Lines) != 1 || data.Lines[0].GTIN != "00614141123452" {
				t.Errorf("Decode(structured) data = %s, want the data member of the body", got.Data())
			}
			want := want.Clone()
			if err := want.SetData(event.ApplicationJSON, got.Data()); err != nil {
				t.Fatal(err)
			}
			checkSame(t, got, &want)
		})
	}
}

// TestDecodeSDKBinary checks interoperability: a binary-mode message written
// by the CloudEvents sdk's own NATS writer is read like one of ours.
func TestDecodeSDKBinary(t *testing.T) {
	tests := []struct {
		name string
		ev   *event.Event
	}{
		{"an order written by the sdk is read", orderPlaced(t, "po-417")},
		{"a warehouse event written by the sdk is read", newEvent(t, "ship-9", bus.Type("shipment.dispatched"), "/warehouses/dc-east", "",
			map[string]any{"shipment_id": "s-9", "order_id": "o-1"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h, err := natsce.WriteMsg(context.Background(), binding.ToMessage(tc.ev), &buf)
			if err != nil {
				t.Fatalf("sdk WriteMsg: %v", err)
			}
			if h.Get("ce-specversion") == "" {
				t.Fatalf("sdk wrote headers %v, want binary mode", h)
			}
			got, err := bus.Decode(&nats.Msg{Subject: "xd.in.acme.order.placed", Header: h, Data: buf.Bytes()})
			if err != nil {
				t.Fatalf("Decode(sdk binary) error: %v", err)
			}
			checkSame(t, got, tc.ev)
		})
	}
}

// TestSDKReadsEncode is the other direction: the sdk's reader understands
// what Encode writes.
func TestSDKReadsEncode(t *testing.T) {
	ev := orderPlaced(t, "po-417")
	got, err := binding.ToEvent(context.Background(), natsce.NewMessage(bus.Encode("xd.in.acme.order.placed", ev)))
	if err != nil {
		t.Fatalf("sdk ToEvent(Encode(ev)) error: %v", err)
	}
	checkSame(t, got, ev)
}

func TestDecodeErrors(t *testing.T) {
	binaryHeader := func(kv ...string) nats.Header {
		h := nats.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name     string
		header   nats.Header
		body     string
		wantCode string
	}{
		{"a body that is not JSON and has no ce-specversion is invalid_json", nil, `po_number=417&ship_to=0614141000005`, bus.CodeInvalidJSON},
		{"truncated JSON is invalid_json", nil, `{"specversion":"1.0","id":"x"`, bus.CodeInvalidJSON},
		{"an empty body is invalid_json", nil, ``, bus.CodeInvalidJSON},
		{"a structured event without id is a schema_violation", nil,
			`{"specversion":"1.0","type":"crossdock.order.placed.v1","source":"/accounts/acme","data":{}}`, bus.CodeSchemaViolation},
		{"a structured event without source is a schema_violation", nil,
			`{"specversion":"1.0","id":"po-1","type":"crossdock.order.placed.v1","data":{}}`, bus.CodeSchemaViolation},
		{"a structured event without specversion is a schema_violation", nil,
			`{"id":"po-1","type":"crossdock.order.placed.v1","source":"/accounts/acme"}`, bus.CodeSchemaViolation},
		{"a CloudEvents 0.3 event is a schema_violation", nil,
			`{"specversion":"0.3","id":"po-1","type":"crossdock.order.placed.v1","source":"/accounts/acme","$ext":"x"}`, bus.CodeSchemaViolation},
		{"a JSON array is a schema_violation", nil, `[{"id":"po-1"}]`, bus.CodeSchemaViolation},
		{"a binary event without ce-id is a schema_violation",
			binaryHeader("ce-specversion", "1.0", "ce-type", "crossdock.order.placed.v1", "ce-source", "/accounts/acme"), `{}`, bus.CodeSchemaViolation},
		{"a binary event of an unknown specversion is a schema_violation",
			binaryHeader("ce-specversion", "9.9", "ce-id", "po-1", "ce-type", "crossdock.order.placed.v1", "ce-source", "/accounts/acme"), `{}`, bus.CodeSchemaViolation},
		{"a binary event with a bad ce-time is a schema_violation",
			binaryHeader("ce-specversion", "1.0", "ce-id", "po-1", "ce-type", "crossdock.order.placed.v1", "ce-source", "/accounts/acme", "ce-time", "yesterday"), `{}`, bus.CodeSchemaViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := bus.Decode(&nats.Msg{Subject: "xd.in.acme.order.placed", Header: tc.header, Data: []byte(tc.body)})
			var de *bus.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) = %v, %v; want a *DecodeError", tc.body, ev, err)
			}
			if de.Code != tc.wantCode {
				t.Errorf("Decode(%q) code = %q, want %q (%v)", tc.body, de.Code, tc.wantCode, err)
			}
			if ev != nil {
				t.Errorf("Decode(%q) returned an event with its error", tc.body)
			}
			if msg := err.Error(); msg != strings.TrimSpace(msg) {
				t.Errorf("Decode(%q) error = %q, want no surrounding white space (it is event.rejected's message)", tc.body, msg)
			}
		})
	}
}

func TestDecodeBinaryWithoutContentTypeIsJSON(t *testing.T) {
	msg := bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	msg.Header.Del("content-type")
	ev, err := bus.Decode(msg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got := ev.DataContentType(); got != event.ApplicationJSON {
		t.Errorf("DataContentType() = %q, want %q (the binding's default)", got, event.ApplicationJSON)
	}
}

func TestSenderOf(t *testing.T) {
	from := func(source, account string) *event.Event {
		ev := event.New()
		ev.SetID("e-1")
		ev.SetType(bus.Type("order.placed"))
		ev.SetSource(source)
		if account != "" {
			ev.SetExtension(bus.ExtAccount, account)
		}
		return &ev
	}
	tests := []struct {
		name    string
		ev      *event.Event
		subject string
		want    bus.Sender
		replyTo string
	}{
		{"an account's event on its intake subject is from that account", from("/accounts/acme", "acme"), "xd.in.acme.order.placed",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
		{"a reader's event on its account's intake subject is from that account", from("/accounts/acme/readers/r1", ""), "xd.in.acme.rfid.observed",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
		{"a warehouse's event on its intake subject is from the warehouse", from("/warehouses/dc-east", ""), "xd.in.wh.dc-east.shipment.dispatched",
			bus.Sender{Warehouse: "dc-east"}, "xd.wh.dc-east.event.rejected"},
		{"on an intake subject the subject wins over the account a source claims", from("/accounts/umbrella", "umbrella"), "xd.in.acme.order.placed",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
		{"on an intake subject the subject wins over the warehouse a source claims", from("/warehouses/dc-west", ""), "xd.in.wh.dc-east.shipment.dispatched",
			bus.Sender{Warehouse: "dc-east"}, "xd.wh.dc-east.event.rejected"},
		{"an unreadable event on an account subject is from the account", nil, "xd.in.acme.order.placed",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
		{"an unreadable event on a warehouse subject is from the warehouse", nil, "xd.in.wh.dc-east.shipment.dispatched",
			bus.Sender{Warehouse: "dc-east"}, "xd.wh.dc-east.event.rejected"},
		{"an unreadable routed event is from the account in its lane subject", nil, "xd.routed.stable.umbrella.order.placed",
			bus.Sender{Account: "umbrella"}, "xd.out.umbrella.event.rejected"},
		{"a routed event is from its account", from("/accounts/umbrella", "umbrella"), "xd.routed.stable.umbrella.order.placed",
			bus.Sender{Account: "umbrella"}, "xd.out.umbrella.event.rejected"},
		{"a routed reader's event is from the reader's account", from("/accounts/acme/readers/r1", "acme"), "xd.routed.priority.acme.rfid.observed",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
		{"a warehouse's event routed under an account is still from the warehouse", from("/warehouses/dc-east", "acme"), "xd.routed.stable.acme.shipment.dispatched",
			bus.Sender{Warehouse: "dc-east"}, "xd.wh.dc-east.event.rejected"},
		{"a hub event on an outbound subject is from its account extension", from("/crossdock/orders", "acme"), "xd.out.acme.order.accepted",
			bus.Sender{Account: "acme"}, "xd.out.acme.event.rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bus.SenderOf(tc.ev, tc.subject)
			if got != tc.want {
				t.Errorf("SenderOf(%v, %q) = %+v, want %+v", sourceOf(tc.ev), tc.subject, got, tc.want)
			}
			if s := got.Subject("event.rejected"); s != tc.replyTo {
				t.Errorf("%+v.Subject(event.rejected) = %q, want %q", got, s, tc.replyTo)
			}
		})
	}
}

func sourceOf(ev *event.Event) string {
	if ev == nil {
		return "<nil>"
	}
	return ev.Source()
}
