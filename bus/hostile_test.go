package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// nearLimit is how large the hostile messages' headers are: just under
// the 65,535 bytes JetStream stores, so that the original is stored but
// the few hundred bytes a dead letter adds are not.
const nearLimit = 65_535 - 100

// headerBytes is the size of h as JetStream counts it.
func headerBytes(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

// hostile are messages a client with publish rights on a stream could
// store, none of which the hub's answers or dead letters could copy as
// they are: JetStream refuses stored headers over 64 KiB and messages over
// the server's max payload.
func hostile(t *testing.T, maxPayload int) []struct {
	name string
	msg  func(i int) *nats.Msg
} {
	binary := func(i int, mutate func(h nats.Header)) *nats.Msg {
		m := bus.Encode("xd.in.acme.order.placed", orderPlaced(t, fmt.Sprintf("po-hostile-%d", i)))
		mutate(m.Header)
		return m
	}
	// fill sets name to the value that brings h to nearLimit bytes.
	fill := func(h nats.Header, name string) {
		h.Set(name, "")
		h.Set(name, strings.Repeat("f", nearLimit-headerBytes(h)))
	}
	return []struct {
		name string
		msg  func(i int) *nats.Msg
	}{
		{"a traceparent that fills JetStream's header limit", func(i int) *nats.Msg {
			return binary(i, func(h nats.Header) { fill(h, "ce-traceparent") })
		}},
		{"a 70 KB id in a structured event", func(i int) *nats.Msg {
			body := mustJSON(t, map[string]any{"specversion": "1.0", "id": fmt.Sprintf("%d-%s", i, strings.Repeat("x", 70_000)),
				"type": bus.Type("order.placed"), "source": "/accounts/acme", "account": "acme",
				"datacontenttype": "application/json", "data": orderData()})
			return &nats.Msg{Subject: "xd.in.acme.order.placed", Header: nats.Header{"content-type": {bus.ContentTypeStructured}}, Data: body}
		}},
		{"two thousand extensions that fill the headers together", func(i int) *nats.Msg {
			return binary(i, func(h nats.Header) {
				for j := range 1999 {
					h.Set(fmt.Sprintf("ce-x%04d", j), strings.Repeat("v", 20))
				}
				fill(h, "ce-x1999")
			})
		}},
		{"a header name that fills the headers", func(i int) *nats.Msg {
			return binary(i, func(h nats.Header) {
				h.Set("X-Pad", "1")
				h.Del("X-Pad")
				name := "X-" + strings.Repeat("n", nearLimit-headerBytes(h)-len("X-: 1\r\n"))
				h[name] = []string{"1"}
			})
		}},
		{"a message as large as the server takes", func(i int) *nats.Msg {
			m := binary(i, func(nats.Header) {})
			m.Data = append([]byte(`{"pad":"`), strings.Repeat("p", maxPayload-headerBytes(m.Header)-len(`{"pad":""}`)-100)...)
			m.Data = append(m.Data, `"}`...)
			return m
		}},
	}
}

// TestConsumeIsNotWedgedByWhatItCannotCopy is attack 1 of issue 13: events
// whose attributes the hub's answers and dead letters could not copy were
// naked forever, and once MaxAckPending of them waited the lane took
// nothing more, for every account. Each is now answered and dead-lettered
// trimmed, and another account's order sent right after is accepted.
func TestConsumeIsNotWedgedByWhatItCannotCopy(t *testing.T) {
	rejecting := func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
		return nil, bus.Reject(bus.CodeSchemaViolation, "lines: missing", "lines")
	}
	for _, handler := range []struct {
		name string
		h    bus.Handler
		only string // the hostile case it is run with; "" for all
	}{
		{"rejected", rejecting, ""},
		// An answer copies the cause's id as its causationid.
		{"accepted", accept, "a 70 KB id in a structured event"},
	} {
		for _, tc := range hostile(t, 2<<20) {
			if handler.only != "" && tc.name != handler.only {
				continue
			}
			t.Run(tc.name+", "+handler.name, func(t *testing.T) {
				h := newHub(t)
				cfg := config("orders")
				cfg.MaxAckPending = 2 // two wedged messages would stop the lane
				const n = 3
				for i := range n {
					h.publish(t, tc.msg(i), "")
				}
				h.consume(t, cfg, func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
					if bus.Account(d.Event) == "globex" {
						return accept(ctx, d)
					}
					return handler.h(ctx, d)
				})
				h.publishEvent(t, "xd.in.globex.order.placed", newEvent(t, "po-9", bus.Type("order.placed"), "/accounts/globex", "globex", orderData()))

				if got := decode(t, h.last(t, bus.StreamOut, "xd.out.globex.order.accepted")); bus.Account(got) != "globex" {
					t.Errorf("globex's answer has account %q", bus.Account(got))
				}
				h.settled(t, "orders")
				bustest.CheckFor(t, wait, func() error {
					if got := h.count(t, bus.StreamDLQ, "xd.dlq.acme.>"); got != n {
						return fmt.Errorf("XD_DLQ holds %d letters for acme, want %d", got, n)
					}
					return nil
				})
				letter := h.last(t, bus.StreamDLQ, "xd.dlq.acme.>")
				if letter.Header.Get(bus.HeaderDLQCode) == "" || letter.Header.Get(bus.HeaderDLQSubject) != "xd.in.acme.order.placed" {
					t.Errorf("dead letter headers %s=%q %s=%q, want the code and the original subject", bus.HeaderDLQCode,
						letter.Header.Get(bus.HeaderDLQCode), bus.HeaderDLQSubject, letter.Header.Get(bus.HeaderDLQSubject))
				}
				var problems []bus.Problem
				if err := json.Unmarshal([]byte(letter.Header.Get(bus.HeaderDLQErrors)), &problems); err != nil || len(problems) == 0 {
					t.Errorf("dead letter %s = %q, want a JSON list of problems", bus.HeaderDLQErrors, letter.Header.Get(bus.HeaderDLQErrors))
				}
				if len(letter.Data) == 0 {
					t.Errorf("dead letter has no body, want the original's, cut to fit at worst")
				}
				rejected := decode(t, h.last(t, bus.StreamOut, "xd.out.acme.event.rejected"))
				if rejected.Type() != bus.Type("event.rejected") {
					t.Errorf("acme's answer is %s, want an event.rejected", rejected.Type())
				}
			})
		}
	}
}

// TestDeadLetterTrimming checks what a trimmed letter keeps: the original
// body when it fits, values cut with a marker, and a note of what was cut.
func TestDeadLetterTrimming(t *testing.T) {
	h := newHub(t)
	m := bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-1"))
	m.Header.Set("ce-traceparent", strings.Repeat("f", 60_000)) // stored whole; a letter keeps 4 KiB of it
	h.publish(t, m, "")
	h.consume(t, config("orders"), func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
		return nil, bus.Reject(bus.CodeSchemaViolation, "lines: missing", "lines")
	})
	letter := h.last(t, bus.StreamDLQ, "xd.dlq.acme.schema_violation")
	if got := letter.Header.Get("ce-id"); got != "po-1" {
		t.Errorf("letter ce-id = %q, want the original's po-1", got)
	}
	if tp := letter.Header.Get("ce-traceparent"); len(tp) > 5<<10 || !strings.Contains(tp, "[trimmed 60000 bytes]") {
		t.Errorf("letter ce-traceparent is %d bytes ending %q, want it cut with a marker", len(tp), tp[max(0, len(tp)-40):])
	}
	if got := letter.Header.Get(bus.HeaderDLQTrimmed); !strings.Contains(got, "ce-traceparent") {
		t.Errorf("letter %s = %q, want it to name ce-traceparent", bus.HeaderDLQTrimmed, got)
	}
	if string(letter.Data) != string(m.Data) {
		t.Errorf("letter body differs from the original's, want it kept whole")
	}
}

// TestConsumeGivesUpOnALetterThatCannotBeStored: with the DLQ stream gone,
// a rejected message is retried a bounded number of times, then terminated,
// and the consumer goes on to the next.
func TestConsumeGivesUpOnALetterThatCannotBeStored(t *testing.T) {
	h := newHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.js.DeleteStream(ctx, bus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	cfg := config("orders")
	cfg.MaxAckPending = 1
	cfg.AckWait = 2 * time.Second // a publish to no stream waits for its timeout
	var seen calls
	h.consume(t, cfg, func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		if bus.Account(d.Event) == "globex" {
			return accept(ctx, d)
		}
		return nil, bus.Reject(bus.CodeSchemaViolation, "lines: missing", "lines")
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-1"))
	h.publishEvent(t, "xd.in.globex.order.placed", newEvent(t, "po-9", bus.Type("order.placed"), "/accounts/globex", "globex", orderData()))

	h.last(t, bus.StreamOut, "xd.out.globex.order.accepted")
	h.settled(t, "orders")
	attempts, ids := seen.get()
	acme := 0
	for i := range attempts {
		if ids[i] == "po-1" {
			acme++
		}
	}
	if acme != cfg.MaxDeliver {
		t.Errorf("acme's event was handled %d times, want %d (MaxDeliver; then dead-lettered, which failed until it was given up)", acme, cfg.MaxDeliver)
	}
}

// TestConsumeRecoversPanics: a handler that panics on one event costs that
// event (dead-lettered as processing_failed, counted) and nothing else.
func TestConsumeRecoversPanics(t *testing.T) {
	s := bustest.RunServer(t, "")
	reg := prometheus.NewRegistry()
	b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	nc := bustest.Connect(t, s)
	js, _ := jetstream.New(nc)
	h := &hub{b: b, nc: nc, js: js}

	var seen calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		if d.Event.ID() == "po-boom" {
			var lines []string
			_ = lines[3] // index out of range
		}
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-boom"))
	h.publishEvent(t, "xd.in.globex.order.placed", newEvent(t, "po-9", bus.Type("order.placed"), "/accounts/globex", "globex", orderData()))

	h.last(t, bus.StreamOut, "xd.out.globex.order.accepted")
	letter := h.last(t, bus.StreamDLQ, "xd.dlq.acme.processing_failed")
	if got := letter.Header.Get("ce-id"); got != "po-boom" {
		t.Errorf("dead letter ce-id = %q, want po-boom", got)
	}
	h.settled(t, "orders")
	if got := counter(t, reg, "crossdock_handler_panics_total", "orders"); got != 1 {
		t.Errorf("crossdock_handler_panics_total{consumer=orders} = %v, want 1", got)
	}
	attempts, ids := seen.get()
	boom := 0
	for i := range attempts {
		if ids[i] == "po-boom" {
			boom++
		}
	}
	if boom != 1 {
		t.Errorf("the panicking event was handled %d times, want once (dead-lettered at once)", boom)
	}
}

// TestConsumeFailsLoudly: a consumer that can no longer take messages makes
// Consume return an error, not nil, while its context is still live.
func TestConsumeFailsLoudly(t *testing.T) {
	tests := []struct {
		name   string
		remove func(ctx context.Context, js jetstream.JetStream) error
	}{
		{"its durable consumer is deleted", func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteConsumer(ctx, bus.StreamIn, "orders")
		}},
		{"its stream is deleted", func(ctx context.Context, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, bus.StreamIn)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- h.b.Consume(ctx, config("orders"), accept) }()
			h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-1"))
			h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")

			rctx, rcancel := context.WithTimeout(context.Background(), wait)
			defer rcancel()
			if err := tc.remove(rctx, h.js); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "orders") {
					t.Errorf("Consume = %v, want an error naming the consumer", err)
				}
			case <-time.After(wait):
				t.Fatalf("Consume still running %s after its consumer was removed", wait)
			}
		})
	}
}

// counter reads a counter with a consumer label from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, consumer string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "consumer" && l.GetValue() == consumer {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
