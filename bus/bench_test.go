package bus_test

import (
	"context"
	"fmt"
	"sync/atomic"
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

// BenchmarkConsume is one message through a consumer on an embedded server:
// delivered, handled (one output, as the router makes), its output stored,
// then acked. b.N messages are stored first; the clock runs from starting
// the consumer until every one is acked. The consumer has 4 workers, like
// the router's standard lane.
func BenchmarkConsume(b *testing.B) {
	s := bustest.RunServer(b, "")
	bs := bustest.New(b, s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	js := bs.JetStream()
	ev := orderPlaced(b, "po-0")
	for i := range b.N {
		ev.SetID(fmt.Sprintf("po-%d", i))
		if _, err := js.PublishMsgAsync(bus.Encode(bus.IntakePrefix+"xd.in.acme.order.placed", ev)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("storing the input timed out")
	}
	var handled atomic.Int64
	done := make(chan struct{})
	route := func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		out := bus.Outgoing{Subject: "xd.routed.standard.acme.order.placed", Event: d.Event}
		if handled.Add(1) == int64(b.N) {
			close(done)
		}
		return []bus.Outgoing{out}, nil
	}
	cfg := bus.ConsumerConfig{Stream: bus.StreamIn, Durable: "bench", Subjects: []string{"xd.in.>"}, Source: "/crossdock/bench", Workers: 4}
	b.ReportAllocs()
	b.ResetTimer()
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- bs.Consume(runCtx, cfg, route) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatal("consuming timed out")
	}
	// Every message handled; Consume returns once each is settled (its
	// output stored and the message acked).
	stop()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}
