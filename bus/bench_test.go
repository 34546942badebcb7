package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

func BenchmarkEncode(b *testing.B) {
	ev := orderPlaced(b, "po-417")
	b.ReportAllocs()
	for b.Loop() {
		bus.Encode("xd.in.acme.order.placed", ev)
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	msg := bus.Encode("xd.in.acme.order.placed", orderPlaced(b, "po-417"))
	b.SetBytes(int64(len(msg.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStructured(b *testing.B) {
	body, err := orderPlaced(b, "po-417").MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Header: nats.Header{"content-type": {bus.ContentTypeStructured}}, Data: body}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish is one synchronous, acknowledged (stored) publish to an
// embedded server with file storage at NATS's default sync interval.
func BenchmarkPublish(b *testing.B) {
	bs := bustest.New(b, bustest.RunServer(b, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := bus.Outgoing{Subject: "xd.out.acme.order.accepted", Event: orderPlaced(b, "po-0")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		out.Event.SetID(fmt.Sprintf("po-%d", i))
		if _, err := bs.Publish(ctx, out); err != nil {
			b.Fatal(err)
		}
	}
}
