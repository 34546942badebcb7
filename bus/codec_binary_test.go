package bus

import (
	"context"
	"reflect"
	"testing"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/nats-io/nats.go"
)

// FuzzDecodeBinaryMatchesSDK holds decodeBinary to the SDK's binding: for
// any headers it reads itself, the event, or the fact of an error, is the
// one binding.ToEvent gives. Three headers have names from the fuzzer
// (capitals, attributes given twice, empty or bad extension names), beside
// the usual ones. Seeds are in testdata/fuzz/FuzzDecodeBinaryMatchesSDK.
func FuzzDecodeBinaryMatchesSDK(f *testing.F) {
	f.Add("1.0", "po-417", "/accounts/acme", "crossdock.order.placed.v1", "2026-02-27T14:03:09.123456789Z", "content-type", "application/json", "ce-account", "acme", "ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", []byte(`{"po_number":"PO-1"}`))
	f.Add("1.0", " po-1 ", "::bad", " t ", "yesterday", "ce-subject", " ", "ce-dataschema", "%zz", "ce-", "x", []byte(nil))
	f.Add("1.0", "x", "/s", "t", "", "ce-ID", "y", "ce-Account", "acme", "Ce-Type", "u", []byte(`{}`))
	f.Add("1.0", "x", "/s", "t", "", "ce-datacontenttype", "text/plain", "content-type", "application/json", "ce-data", "v", []byte(`hello`))
	f.Add("0.3", "x", "/s", "t", "", "ce-schemaurl", "http://x", "ce-specversion", "1.0", "ce-bad_name", "v", []byte(`[]`))
	f.Add("1.0", "x", "/s", "t", "2026-02-27T14:03:09+01:00", "ce-causationid", "po-1", "ce-time", "", "content-type", " ", []byte(`1`))
	f.Fuzz(func(t *testing.T, specversion, id, source, typ, tm, k1, v1, k2, v2, k3, v3 string, body []byte) {
		h := nats.Header{}
		for _, kv := range [][2]string{{"ce-specversion", specversion}, {"ce-id", id}, {"ce-source", source}, {"ce-type", typ}, {"ce-time", tm}, {k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" && kv[1] != "" {
				h.Add(kv[0], kv[1])
			}
		}
		msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Header: h, Data: body}
		got, direct, err := decodeBinary(msg)
		if !direct {
			return // the SDK reads it
		}
		want, wantErr := binding.ToEvent(context.Background(), natsce.NewMessage(msg))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeBinary(%v) error %v, the SDK's %v", h, err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got.Context, want.Context) || string(got.DataEncoded) != string(want.DataEncoded) || got.DataBase64 != want.DataBase64 {
			t.Fatalf("decodeBinary(%v) = %v\ndata %q\nthe SDK's %v\ndata %q", h, got, got.DataEncoded, want, want.DataEncoded)
		}
	})
}

// TestDecodeBinaryReadsTheCommonEventItself checks that an event as crossdock
// and its customers write it takes the direct path, not the SDK's.
func TestDecodeBinaryReadsTheCommonEventItself(t *testing.T) {
	h := nats.Header{}
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "po-417", "ce-source": "/accounts/acme",
		"ce-type": "crossdock.order.placed.v1", "ce-time": "2026-02-27T14:03:09Z", "ce-account": "acme", "content-type": "application/json"} {
		h.Set(k, v)
	}
	ev, direct, err := decodeBinary(&nats.Msg{Subject: "xd.in.acme.order.placed", Header: h, Data: []byte(`{}`)})
	if !direct || err != nil || ev.ID() != "po-417" || ev.Extensions()["account"] != "acme" {
		t.Fatalf("decodeBinary = %v, direct %v, %v; want po-417 of acme read directly", ev, direct, err)
	}
}
