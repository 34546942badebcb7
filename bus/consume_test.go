package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

const wait = 10 * time.Second

// hub is one embedded server with the streams set up, a Bus on it and a
// second connection for the test's own reads and writes.
type hub struct {
	b  *bus.Bus
	nc *nats.Conn
	js jetstream.JetStream
}

func newHub(t *testing.T) *hub {
	t.Helper()
	return newHubWith(t, bus.Options{})
}

// newHubWith is newHub with the bus's options (stream limits, say).
func newHubWith(t *testing.T, o bus.Options) *hub {
	t.Helper()
	s := bustest.RunServer(t, "")
	b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), o)
	if err != nil {
		t.Fatalf("bus: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Setup(ctx); err != nil {
		t.Fatalf("setup streams: %v", err)
	}
	nc := bustest.Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return &hub{b: b, nc: nc, js: js}
}

// config is a consumer on every intake subject with fast retries.
func config(durable string) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Stream:     bus.StreamIn,
		Durable:    durable,
		Subjects:   []string{"xd.in.>"},
		Source:     "/crossdock/test",
		Workers:    2,
		MaxDeliver: 3,
		AckWait:    wait,
		Backoff:    []time.Duration{5 * time.Millisecond},
	}
}

// consume runs Consume until the returned stop is called (or the test ends)
// and fails the test if it returns an error or does not return.
func (h *hub) consume(t *testing.T, cfg bus.ConsumerConfig, handler bus.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.b.Consume(ctx, cfg, handler) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Consume(%s) = %v, want nil after cancel", cfg.Durable, err)
			}
		case <-time.After(wait):
			t.Errorf("Consume(%s) did not return within %s of cancel", cfg.Durable, wait)
		}
	})
	t.Cleanup(stop)
	return stop
}

// publish stores msg in XD_IN as a customer would, and returns its stream
// sequence.
func (h *hub) publish(t *testing.T, msg *nats.Msg, msgID string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	// As the gateway's intake relay does: XD_IN and XD_RAW take the hub's
	// publishes on xd.intake.… and store them under the customer's subject.
	if strings.HasPrefix(msg.Subject, "xd.in.") || strings.HasPrefix(msg.Subject, "xd.raw.") {
		m := *msg
		m.Subject = bus.IntakePrefix + msg.Subject
		msg = &m
	}
	ack, err := h.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		t.Fatalf("publish %s: %v", msg.Subject, err)
	}
	return ack.Sequence
}

// publishEvent stores ev in binary mode on subject.
func (h *hub) publishEvent(t *testing.T, subject string, ev *event.Event) uint64 {
	t.Helper()
	return h.publish(t, bus.Encode(subject, ev), bus.MsgID(ev))
}

// last waits for a message on subject in stream and returns the last one.
func (h *hub) last(t *testing.T, stream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	var m *jetstream.RawStreamMsg
	bustest.CheckFor(t, wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		s, err := h.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		m, err = s.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", subject, stream, err)
		}
		return nil
	})
	return m
}

// count is how many messages stream holds on subjects matching filter.
func (h *hub) count(t *testing.T, stream, filter string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := h.js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// settled waits until the durable has delivered everything in XD_IN and has
// no message awaiting an outcome (acked or terminated; a nak'd message stays
// pending until its redelivery is settled), and returns its state.
func (h *hub) settled(t *testing.T, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	bustest.CheckFor(t, wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := h.js.Consumer(ctx, bus.StreamIn, durable)
		if err != nil {
			return err
		}
		info, err = c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer %s: %d not delivered, %d awaiting ack", durable, info.NumPending, info.NumAckPending)
		}
		return nil
	})
	return info
}

// decode reads a stored message as a CloudEvent.
func decode(t *testing.T, m *jetstream.RawStreamMsg) *event.Event {
	t.Helper()
	ev, err := bus.Decode(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	if err != nil {
		t.Fatalf("decode %s: %v", m.Subject, err)
	}
	return ev
}

// accept answers an order with an order.accepted to its account.
func accept(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	out, err := bus.NewEvent(d.Event, bus.Type("order.accepted"), "", "/crossdock/orders", map[string]string{"order_id": "o-" + d.Event.ID()})
	if err != nil {
		return nil, err
	}
	return []bus.Outgoing{{Subject: bus.OutSubject(bus.Account(d.Event), "order.accepted"), Event: out}}, nil
}

// calls records what a handler saw, safely across workers.
type calls struct {
	mu       sync.Mutex
	attempts []int
	ids      []string
}

func (c *calls) add(d *bus.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts = append(c.attempts, d.Attempt)
	if d.Event != nil {
		c.ids = append(c.ids, d.Event.ID())
	}
}

func (c *calls) get() (attempts []int, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.attempts), slices.Clone(c.ids)
}

func TestConsumeStoresOutputsBeforeAck(t *testing.T) {
	h := newHub(t)

	// A wiretap on every subject sees, in the order the server got them, the
	// output's publish and the input's ack.
	type seen struct{ subject, body string }
	tap := make(chan seen, 4096)
	sub, err := h.nc.Subscribe(">", func(m *nats.Msg) {
		if strings.HasPrefix(m.Subject, "xd.out.") || strings.HasPrefix(m.Subject, "$JS.ACK.") && strings.Contains(m.Subject, "."+bus.StreamIn+".") {
			tap <- seen{m.Subject, string(m.Data)}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	in := orderPlaced(t, "po-417")
	h.publishEvent(t, "xd.in.acme.order.placed", in)
	h.consume(t, config("orders"), accept)

	out := decode(t, h.last(t, bus.StreamOut, "xd.out.acme.order.accepted"))
	if got, want := out.ID(), bus.DeriveID("po-417", bus.Type("order.accepted")+"/"); got != want {
		t.Errorf("stored output id = %s, want %s (derived from the input's)", got, want)
	}
	if got := out.Extensions()[bus.ExtCausationID]; got != "po-417" {
		t.Errorf("stored output causationid = %v, want po-417", got)
	}
	h.settled(t, "orders")

	var order []string
	for len(order) == 0 || !strings.HasPrefix(order[len(order)-1], "$JS.ACK.") {
		select {
		case s := <-tap:
			if strings.HasPrefix(s.subject, "$JS.ACK.") {
				order = append(order, "$JS.ACK. "+s.body)
			} else {
				order = append(order, s.subject)
			}
		case <-time.After(wait):
			t.Fatalf("wiretap saw %q and no ack of the input", order)
		}
	}
	want := []string{"xd.out.acme.order.accepted", "$JS.ACK. +ACK"}
	if !slices.Equal(order, want) {
		t.Errorf("wiretap saw %q, want the output stored before the input is acked: %q", order, want)
	}
}

func TestConsumeRetriesTransientErrors(t *testing.T) {
	h := newHub(t)
	var seen calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		if d.Attempt == 1 {
			return nil, errors.New("orders bucket: timeout")
		}
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))

	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	h.settled(t, "orders")
	if got := h.count(t, bus.StreamOut, ">"); got != 1 {
		t.Errorf("XD_OUT holds %d messages, want the output once", got)
	}
	if got := h.count(t, bus.StreamDLQ, ">"); got != 0 {
		t.Errorf("XD_DLQ holds %d messages, want none after a retry succeeded", got)
	}
	if attempts, _ := seen.get(); !slices.Equal(attempts, []int{1, 2}) {
		t.Errorf("handler saw attempts %v, want [1 2]", attempts)
	}
}

// TestConsumeRejects covers the permanent outcomes: the original, bytes and
// headers, goes to the sender's DLQ subject and the sender gets an answer.
func TestConsumeRejects(t *testing.T) {
	structured := []byte(`{"specversion":"1.0","id":"po-418","type":"crossdock.order.placed.v1","source":"/accounts/acme",` +
		`"account":"acme","datacontenttype":"application/json","data":{"po_number":"PO-418"}}`)
	orderRejected := func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		out, err := bus.NewEvent(d.Event, bus.Type("order.rejected"), "", "/crossdock/orders",
			map[string]any{"po_number": "PO-2024-000417", "reasons": []bus.Problem{{Code: bus.CodeOutsideOrderWindow, Message: "orders close at 14:00"}}})
		if err != nil {
			return nil, err
		}
		return []bus.Outgoing{{Subject: "xd.out.acme.order.rejected", Event: out}}, bus.Reject(bus.CodeOutsideOrderWindow, "orders close at 14:00", "")
	}
	rejectWith := func(code, field string) bus.Handler {
		return func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
			return nil, fmt.Errorf("order rules: %w", bus.Reject(code, "the order breaks a rule", field))
		}
	}
	tests := []struct {
		name    string
		msg     *nats.Msg
		handler bus.Handler

		wantCalls      int
		wantDLQ        string
		wantCode       string
		wantAnswer     string // subject of the answer to the sender
		wantAnswerType string
		wantRejectedID string // rejected_id of an event.rejected answer
	}{
		{
			name:      "a rejected order goes to the account's DLQ and the account is told why",
			msg:       bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-417")),
			handler:   rejectWith(bus.CodeBelowMinimumOrder, "lines"),
			wantCalls: 1, wantDLQ: "xd.dlq.acme.below_minimum_order", wantCode: bus.CodeBelowMinimumOrder,
			wantAnswer: "xd.out.acme.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "po-417",
		},
		{
			name:      "a rejected structured event keeps its original bytes and content type",
			msg:       &nats.Msg{Subject: "xd.in.acme.order.placed", Header: nats.Header{"content-type": {bus.ContentTypeStructured}}, Data: structured},
			handler:   rejectWith(bus.CodeSchemaViolation, "ship_to"),
			wantCalls: 1, wantDLQ: "xd.dlq.acme.schema_violation", wantCode: bus.CodeSchemaViolation,
			wantAnswer: "xd.out.acme.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "po-418",
		},
		{
			name:      "a rejection with outputs answers with the outputs instead of event.rejected",
			msg:       bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-417")),
			handler:   orderRejected,
			wantCalls: 1, wantDLQ: "xd.dlq.acme.outside_order_window", wantCode: bus.CodeOutsideOrderWindow,
			wantAnswer: "xd.out.acme.order.rejected", wantAnswerType: bus.Type("order.rejected"),
		},
		{
			name: "a rejected order its sender published with JetStream expectations still reaches the DLQ",
			msg: func() *nats.Msg {
				m := bus.Encode("xd.in.acme.order.placed", orderPlaced(t, "po-419"))
				m.Header.Set(jetstream.ExpectedStreamHeader, bus.StreamIn)
				m.Header.Set(jetstream.ExpectedLastSeqHeader, "0")
				return m
			}(),
			handler:   rejectWith(bus.CodeBelowMinimumOrder, "lines"),
			wantCalls: 1, wantDLQ: "xd.dlq.acme.below_minimum_order", wantCode: bus.CodeBelowMinimumOrder,
			wantAnswer: "xd.out.acme.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "po-419",
		},
		{
			name:      "an undecodable body goes to the DLQ as invalid_json without reaching the handler",
			msg:       &nats.Msg{Subject: "xd.in.acme.order.placed", Data: []byte("ISA*00*          *00*~PO1*1*12*CA~")},
			handler:   accept,
			wantCalls: 0, wantDLQ: "xd.dlq.acme.invalid_json", wantCode: bus.CodeInvalidJSON,
			wantAnswer: "xd.out.acme.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "",
		},
		{
			name: "a binary event without an id goes to the DLQ as schema_violation",
			msg: &nats.Msg{Subject: "xd.in.acme.order.placed", Data: []byte(`{}`), Header: nats.Header{
				"ce-specversion": {"1.0"}, "ce-type": {"crossdock.order.placed.v1"}, "ce-source": {"/accounts/acme"}}},
			handler:   accept,
			wantCalls: 0, wantDLQ: "xd.dlq.acme.schema_violation", wantCode: bus.CodeSchemaViolation,
			wantAnswer: "xd.out.acme.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "",
		},
		{
			name: "a rejected warehouse event goes to the warehouse's DLQ and the warehouse is told why",
			msg: bus.Encode("xd.in.wh.dc-east.shipment.dispatched", newEvent(t, "ship-9", bus.Type("shipment.dispatched"), "/warehouses/dc-east", "",
				map[string]any{"shipment_id": "s-9", "order_id": "o-404"})),
			handler:   rejectWith(bus.CodeUnknownOrder, "order_id"),
			wantCalls: 1, wantDLQ: "xd.dlq.wh.dc-east.unknown_order", wantCode: bus.CodeUnknownOrder,
			wantAnswer: "xd.wh.dc-east.event.rejected", wantAnswerType: bus.Type("event.rejected"), wantRejectedID: "ship-9",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			var seen calls
			h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				seen.add(d)
				return tc.handler(ctx, d)
			})
			sent := &nats.Msg{Subject: tc.msg.Subject, Header: nats.Header{}, Data: bytes.Clone(tc.msg.Data)}
			for k, v := range tc.msg.Header {
				sent.Header[k] = slices.Clone(v)
			}
			seq := h.publish(t, tc.msg, "")

			dlq := h.last(t, bus.StreamDLQ, tc.wantDLQ)
			if !bytes.Equal(dlq.Data, sent.Data) {
				t.Errorf("dead letter body = %q, want the original %q", dlq.Data, sent.Data)
			}
			for k, v := range sent.Header {
				if strings.HasPrefix(k, "Nats-") {
					continue // JetStream's own, not the event's
				}
				if got := dlq.Header.Values(k); !slices.Equal(got, v) {
					t.Errorf("dead letter header %s = %q, want the original %q", k, got, v)
				}
			}
			for k, want := range map[string]string{
				bus.HeaderDLQCode:     tc.wantCode,
				bus.HeaderDLQSubject:  tc.msg.Subject,
				bus.HeaderDLQStream:   bus.StreamIn,
				bus.HeaderDLQSequence: strconv.FormatUint(seq, 10),
				bus.HeaderDLQConsumer: "orders",
				bus.HeaderDLQAttempts: "1",
			} {
				if got := dlq.Header.Get(k); got != want {
					t.Errorf("dead letter header %s = %q, want %q", k, got, want)
				}
			}
			var problems []bus.Problem
			if err := json.Unmarshal([]byte(dlq.Header.Get(bus.HeaderDLQErrors)), &problems); err != nil {
				t.Errorf("dead letter header %s = %q: %v", bus.HeaderDLQErrors, dlq.Header.Get(bus.HeaderDLQErrors), err)
			}
			if len(problems) == 0 || problems[0].Code != tc.wantCode {
				t.Errorf("dead letter errors = %+v, want the code %s first", problems, tc.wantCode)
			}

			answer := decode(t, h.last(t, bus.StreamOut, tc.wantAnswer))
			if answer.Type() != tc.wantAnswerType {
				t.Errorf("answer on %s has type %s, want %s", tc.wantAnswer, answer.Type(), tc.wantAnswerType)
			}
			if tc.wantAnswerType == bus.Type("event.rejected") {
				var data bus.RejectedData
				if err := answer.DataAs(&data); err != nil {
					t.Fatalf("event.rejected data %s: %v", answer.Data(), err)
				}
				if data.RejectedID != tc.wantRejectedID {
					t.Errorf("event.rejected rejected_id = %q, want %q", data.RejectedID, tc.wantRejectedID)
				}
				if len(data.Errors) == 0 || data.Errors[0].Code != tc.wantCode {
					t.Errorf("event.rejected errors = %+v, want the code %s", data.Errors, tc.wantCode)
				}
				if tc.wantRejectedID != "" {
					if got := answer.Extensions()[bus.ExtCausationID]; got != tc.wantRejectedID {
						t.Errorf("event.rejected causationid = %v, want %s", got, tc.wantRejectedID)
					}
				}
			}

			// Terminated, so never delivered again: nothing is left to deliver
			// or awaiting an outcome, and the handler ran once at most.
			info := h.settled(t, "orders")
			if info.NumRedelivered != 0 {
				t.Errorf("consumer redelivered %d messages, want 0", info.NumRedelivered)
			}
			if attempts, _ := seen.get(); len(attempts) != tc.wantCalls {
				t.Errorf("handler ran %d times (attempts %v), want %d", len(attempts), attempts, tc.wantCalls)
			}
			if got := h.count(t, bus.StreamOut, ">"); got != 1 {
				t.Errorf("XD_OUT holds %d messages, want the one answer", got)
			}
		})
	}
}

func TestConsumeDeadLettersAfterMaxDeliver(t *testing.T) {
	tests := []struct {
		name      string
		handler   bus.Handler
		wantError string // in the dead letter's problem message
	}{
		{"a handler that always fails is dead-lettered after MaxDeliver attempts",
			func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
				return nil, errors.New("warehouse system unavailable")
			}, "warehouse system unavailable"},
		{"outputs that cannot be stored are dead-lettered after MaxDeliver attempts",
			func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				outs, err := accept(ctx, d)
				outs[0].Subject = "xd.nowhere.acme.order.accepted" // no stream takes it
				return outs, err
			}, "xd.nowhere.acme.order.accepted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			var seen calls
			h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				seen.add(d)
				return tc.handler(ctx, d)
			})
			h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))

			dlq := h.last(t, bus.StreamDLQ, "xd.dlq.acme.processing_failed")
			h.settled(t, "orders")
			if attempts, _ := seen.get(); !slices.Equal(attempts, []int{1, 2, 3}) {
				t.Errorf("handler saw attempts %v, want [1 2 3] (MaxDeliver 3)", attempts)
			}
			if got := dlq.Header.Get(bus.HeaderDLQAttempts); got != "3" {
				t.Errorf("dead letter header %s = %q, want 3", bus.HeaderDLQAttempts, got)
			}
			if got := dlq.Header.Get("ce-id"); got != "po-417" {
				t.Errorf("dead letter header ce-id = %q, want the original's po-417", got)
			}
			var problems []bus.Problem
			_ = json.Unmarshal([]byte(dlq.Header.Get(bus.HeaderDLQErrors)), &problems)
			if len(problems) != 1 || problems[0].Code != bus.CodeProcessingFailed || !strings.Contains(problems[0].Message, tc.wantError) {
				t.Errorf("dead letter errors = %+v, want processing_failed naming %q", problems, tc.wantError)
			}
			var data bus.RejectedData
			if err := decode(t, h.last(t, bus.StreamOut, "xd.out.acme.event.rejected")).DataAs(&data); err != nil {
				t.Fatal(err)
			}
			if data.RejectedID != "po-417" || len(data.Errors) != 1 || data.Errors[0].Code != bus.CodeProcessingFailed {
				t.Errorf("event.rejected data = %+v, want po-417 with processing_failed", data)
			}
		})
	}
}

func TestPublishDeduplicates(t *testing.T) {
	accepted := func(t *testing.T, account, id string) bus.Outgoing {
		ev := newEvent(t, id, bus.Type("order.accepted"), "/crossdock/orders", account, map[string]string{"order_id": id})
		return bus.Outgoing{Subject: bus.OutSubject(account, "order.accepted"), Event: ev}
	}
	tests := []struct {
		name     string
		outs     func(t *testing.T) []bus.Outgoing
		wantDups int
		wantMsgs uint64
	}{
		{"one event published again is stored once and reported as a duplicate",
			func(t *testing.T) []bus.Outgoing { return []bus.Outgoing{accepted(t, "acme", "a-1")} }, 1, 1},
		{"three events published again are stored once each and all reported as duplicates",
			func(t *testing.T) []bus.Outgoing {
				return []bus.Outgoing{accepted(t, "acme", "a-1"), accepted(t, "acme", "a-2"), accepted(t, "acme", "a-3")}
			}, 3, 3},
		{"the same id from two accounts is two events",
			func(t *testing.T) []bus.Outgoing {
				return []bus.Outgoing{accepted(t, "acme", "a-1"), accepted(t, "umbrella", "a-1")}
			}, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			outs := tc.outs(t)
			dups, err := h.b.Publish(ctx, outs...)
			if err != nil || dups != 0 {
				t.Fatalf("first Publish = %d, %v; want 0 duplicates", dups, err)
			}
			dups, err = h.b.Publish(ctx, outs...)
			if err != nil || dups != tc.wantDups {
				t.Errorf("second Publish = %d, %v; want %d duplicates", dups, err, tc.wantDups)
			}
			if got := h.count(t, bus.StreamOut, ">"); got != tc.wantMsgs {
				t.Errorf("XD_OUT holds %d messages, want %d", got, tc.wantMsgs)
			}
		})
	}
}

// TestConsumeRedeliveryDoesNotDuplicateOutputs plays a process that stored
// its outputs and died before acking: the redelivered input publishes the
// same derived ids, which JetStream stores once.
func TestConsumeRedeliveryDoesNotDuplicateOutputs(t *testing.T) {
	h := newHub(t)
	var seen calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		outs, err := accept(ctx, d)
		if err != nil || d.Attempt > 1 {
			return outs, err
		}
		if _, err := h.b.Publish(ctx, outs...); err != nil {
			return nil, err
		}
		return nil, errors.New("crashed after storing the outputs")
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))

	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	bustest.CheckFor(t, wait, func() error {
		if attempts, _ := seen.get(); len(attempts) < 2 {
			return fmt.Errorf("handler saw attempts %v, want a redelivery", attempts)
		}
		return nil
	})
	h.settled(t, "orders")
	if got := h.count(t, bus.StreamOut, ">"); got != 1 {
		t.Errorf("XD_OUT holds %d messages after a redelivery, want the output once", got)
	}
	if attempts, _ := seen.get(); !slices.Equal(attempts, []int{1, 2}) {
		t.Errorf("handler saw attempts %v, want [1 2]", attempts)
	}
}

func TestConsumeShutdownFinishesInFlight(t *testing.T) {
	h := newHub(t)
	started, release, finished := make(chan string, 1), make(chan struct{}), make(chan struct{}, 1)
	stop := h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		started <- d.Event.ID()
		<-release
		defer func() { finished <- struct{}{} }()
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	select {
	case id := <-started:
		if id != "po-417" {
			t.Fatalf("handler got %s, want po-417", id)
		}
	case <-time.After(wait):
		t.Fatal("handler did not start")
	}

	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	// Consume may not return while the handler holds the message. Watching
	// for a while can only miss a premature return, never invent one.
	select {
	case <-stopped:
		t.Fatal("Consume returned while a handler still held a message")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-stopped
	select {
	case <-finished:
	default:
		t.Fatal("Consume returned before its in-flight handler finished")
	}

	// The in-flight message was finished, not abandoned: its output is
	// stored, it is acked, and the next process on the durable never gets it.
	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	h.settled(t, "orders")
	var next calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		next.add(d)
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-418"))
	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	bustest.CheckFor(t, wait, func() error {
		if _, ids := next.get(); !slices.Contains(ids, "po-418") {
			return fmt.Errorf("second process handled %v, want po-418", ids)
		}
		return nil
	})
	h.settled(t, "orders")
	if _, ids := next.get(); !slices.Equal(ids, []string{"po-418"}) {
		t.Errorf("second process handled %v, want only po-418 (po-417 was acked at shutdown)", ids)
	}
	if got := h.count(t, bus.StreamOut, ">"); got != 2 {
		t.Errorf("XD_OUT holds %d messages, want one output per order", got)
	}
}

func TestConsumeSharesDurableAcrossProcesses(t *testing.T) {
	const n = 200
	h := newHub(t)

	// Each process's first message waits until the other has one too, so
	// the split is certain rather than likely: a process holding messages
	// unacked leaves the rest of the stream to the other.
	var (
		mu      sync.Mutex
		handled = map[string]int{}
		per     [2]int
		got     = [2]chan struct{}{make(chan struct{}), make(chan struct{})}
		once    [2]sync.Once
	)
	handler := func(p int) bus.Handler {
		return func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
			once[p].Do(func() { close(got[p]) })
			select {
			case <-got[1-p]:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			mu.Lock()
			handled[d.Event.ID()]++
			per[p]++
			mu.Unlock()
			return accept(ctx, d)
		}
	}
	cfg := config("orders")
	cfg.Workers = 4
	h.consume(t, cfg, handler(0))
	bustest.CheckFor(t, wait, func() error {
		_, err := h.js.Consumer(context.Background(), bus.StreamIn, "orders")
		return err
	})
	h.consume(t, cfg, handler(1))

	outs := make([]bus.Outgoing, n)
	for i := range outs {
		outs[i] = bus.Outgoing{Subject: bus.IntakePrefix + "xd.in.acme.order.placed", Event: orderPlaced(t, fmt.Sprintf("po-%03d", i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := h.b.Publish(ctx, outs...); err != nil {
		t.Fatalf("publish %d orders: %v", n, err)
	}

	bustest.CheckFor(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(handled) < n {
			return fmt.Errorf("%d of %d orders handled", len(handled), n)
		}
		return nil
	})
	h.settled(t, "orders")
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		id := fmt.Sprintf("po-%03d", i)
		if handled[id] != 1 {
			t.Errorf("order %s handled %d times, want exactly once", id, handled[id])
		}
	}
	if per[0] == 0 || per[1] == 0 || per[0]+per[1] != n {
		t.Errorf("processes handled %d and %d orders, want both some and %d in total", per[0], per[1], n)
	}
	if got := h.count(t, bus.StreamOut, ">"); got != n {
		t.Errorf("XD_OUT holds %d messages, want %d", got, n)
	}
}

// TestConsumeDeadLettersMessagesThatNeverFinish plays processes that crash
// while handling a message: delivered MaxDeliver times with no outcome, it
// goes to the DLQ before it can crash another.
func TestConsumeDeadLettersMessagesThatNeverFinish(t *testing.T) {
	h := newHub(t)
	cfg := config("orders")
	cfg.AckWait = 100 * time.Millisecond // how long a crashed process holds it
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := h.js.CreateOrUpdateConsumer(ctx, bus.StreamIn, jetstream.ConsumerConfig{
		Durable: cfg.Durable, FilterSubjects: cfg.Subjects, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait, MaxDeliver: -1, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	for i := range cfg.MaxDeliver {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatalf("fetch %d: %v", i+1, err)
		}
		n := 0
		for range batch.Messages() {
			n++ // and crash: no ack, nak or term
		}
		if n != 1 {
			t.Fatalf("fetch %d got %d messages (%v), want the order", i+1, n, batch.Error())
		}
	}

	var seen calls
	h.consume(t, cfg, func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		return accept(ctx, d)
	})
	dlq := h.last(t, bus.StreamDLQ, "xd.dlq.acme.processing_failed")
	h.settled(t, "orders")
	if attempts, _ := seen.get(); len(attempts) != 0 {
		t.Errorf("handler saw attempts %v, want none after %d deliveries without an outcome", attempts, cfg.MaxDeliver)
	}
	if got := dlq.Header.Get(bus.HeaderDLQAttempts); got != "4" {
		t.Errorf("dead letter header %s = %q, want 4", bus.HeaderDLQAttempts, got)
	}
	if got := h.count(t, bus.StreamOut, "xd.out.acme.order.accepted"); got != 0 {
		t.Errorf("XD_OUT holds %d order.accepted, want none", got)
	}
}

func TestConsumeRaw(t *testing.T) {
	t.Run("the handler gets the body as it arrived and no event", func(t *testing.T) {
		h := newHub(t)
		got := make(chan *bus.Delivery, 1)
		cfg := config("sweep")
		cfg.Raw = true
		in := orderPlaced(t, "po-501")
		seq := h.publishEvent(t, "xd.in.acme.order.placed", in)
		h.consume(t, cfg, func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
			got <- d
			return nil, nil
		})
		select {
		case d := <-got:
			if d.Event != nil || !bytes.Equal(d.Data, in.Data()) || d.Seq != seq || d.Header.Get("ce-id") != "po-501" {
				t.Errorf("delivery = event %v, data %q, seq %d, ce-id %q; want no event, the data, seq %d, po-501", d.Event, d.Data, d.Seq, d.Header.Get("ce-id"), seq)
			}
		case <-time.After(wait):
			t.Fatal("no delivery")
		}
		h.settled(t, "sweep")
	})

	t.Run("a rejection names the event the handler did not decode", func(t *testing.T) {
		h := newHub(t)
		cfg := config("sweep")
		cfg.Raw = true
		h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-502"))
		h.consume(t, cfg, func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
			return nil, bus.Reject(bus.CodeUnknownAccount, "account \"acme\" is not known", "account")
		})
		rej := decode(t, h.last(t, bus.StreamOut, "xd.out.acme.event.rejected"))
		var data bus.RejectedData
		if err := json.Unmarshal(rej.Data(), &data); err != nil {
			t.Fatal(err)
		}
		if data.RejectedID != "po-502" || data.Errors[0].Code != bus.CodeUnknownAccount {
			t.Errorf("rejection = %+v, want po-502 rejected with unknown_account", data)
		}
		h.last(t, bus.StreamDLQ, "xd.dlq.acme.unknown_account")
	})
}

func TestConsumeFollow(t *testing.T) {
	h := newHub(t)
	var want atomic.Pointer[[]string]
	want.Store(&[]string{"xd.in.acme.>"})
	cfg := config("edi")
	cfg.Subjects = []string{"xd.in.>"} // unused: Follow decides
	cfg.Follow = &bus.Follower{Want: func() []string { return *want.Load() }}
	got := make(chan string, 10)
	h.consume(t, cfg, func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		got <- d.Event.ID()
		return nil, nil
	})
	receive := func(id string) {
		t.Helper()
		select {
		case g := <-got:
			if g != id {
				t.Fatalf("delivered %s, want %s", g, id)
			}
		case <-time.After(wait):
			t.Fatalf("%s not delivered", id)
		}
	}

	h.publishEvent(t, "xd.in.globex.order.placed", orderPlaced(t, "globex-1"))
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "acme-1"))
	receive("acme-1") // and never globex-1: it is not in the filter

	want.Store(&[]string{"xd.in.acme.>", "xd.in.globex.>"})
	deadline := time.Now().Add(wait)
	for {
		c, err := h.js.Consumer(context.Background(), bus.StreamIn, "edi")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(c.CachedInfo().Config.FilterSubjects, *want.Load()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("filter = %v, want %v", c.CachedInfo().Config.FilterSubjects, *want.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.publishEvent(t, "xd.in.globex.order.placed", orderPlaced(t, "globex-2"))
	receive("globex-2") // from the change on: globex-1 came before it
	select {
	case g := <-got:
		t.Errorf("delivered %s as well", g)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestConsumeAdmit checks that a message waits for Admit before it is
// handled, and that what Admit returns is told once it is handled, then
// once it is settled.
func TestConsumeAdmit(t *testing.T) {
	h := newHub(t)
	release := make(chan struct{})
	var stored atomic.Int64
	events := make(chan string, 10)
	cfg := config("gated")
	cfg.Admit = func(_ context.Context, at time.Time) bus.Admission {
		stored.Store(at.UnixNano())
		events <- "admit"
		<-release
		return bus.Admission{Handled: func() { events <- "handled" }, Settled: func() { events <- "settled" }}
	}
	h.consume(t, cfg, func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		events <- "handle " + d.Event.ID()
		return nil, nil
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "acme-1"))
	next := func() string {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(wait):
			t.Fatal("nothing happened")
			return ""
		}
	}
	if e := next(); e != "admit" {
		t.Fatalf("first %q, want admit", e)
	}
	select {
	case e := <-events:
		t.Fatalf("%q before Admit returned", e)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	for _, want := range []string{"handle acme-1", "handled", "settled"} {
		if e := next(); e != want {
			t.Errorf("%q, want %q", e, want)
		}
	}
	if at := time.Unix(0, stored.Load()); time.Since(at) > time.Minute || time.Until(at) > 0 {
		t.Errorf("Admit was given stored time %v, want JetStream's, a moment ago", at)
	}
}

// holdOutputs answers, for the test, the JetStream publishes on
// xd.test.hold.> (a subject no stream takes): it hands each to the test,
// which replies as the stream would, when it likes.
func (h *hub) holdOutputs(t *testing.T) <-chan *nats.Msg {
	t.Helper()
	held := make(chan *nats.Msg, 16)
	sub, err := h.nc.Subscribe("xd.test.hold.>", func(m *nats.Msg) { held <- m })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return held
}

// holding answers an event with one output on xd.test.hold.<id>.
func holding(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	out, err := bus.NewEvent(d.Event, bus.Type("order.accepted"), "", "/crossdock/orders", map[string]string{"order_id": "o-" + d.Event.ID()})
	if err != nil {
		return nil, err
	}
	return []bus.Outgoing{{Subject: "xd.test.hold." + d.Event.ID(), Event: out}}, nil
}

func TestConsumeTakesTheNextMessageWhileOutputsAreStored(t *testing.T) {
	h := newHub(t)
	held := h.holdOutputs(t)
	cfg := config("orders")
	cfg.Workers = 1
	var seen calls
	h.consume(t, cfg, func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		return holding(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-418"))

	// The one worker handles the second order while the first one's output
	// is not yet acknowledged; neither order is acked before its output is.
	var first, second *nats.Msg
	for _, m := range []**nats.Msg{&first, &second} {
		select {
		case *m = <-held:
		case <-time.After(wait):
			_, ids := seen.get()
			t.Fatalf("handled %v; want both orders' outputs published while the first is unacknowledged", ids)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := h.js.Consumer(ctx, bus.StreamIn, "orders")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 2 {
		t.Errorf("%d orders awaiting ack, want 2 while their outputs are unacknowledged", info.NumAckPending)
	}
	for i, m := range []*nats.Msg{first, second} {
		if err := m.Respond(fmt.Appendf(nil, `{"stream":"XD_TEST","seq":%d}`, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	h.settled(t, "orders")
	if attempts, _ := seen.get(); !slices.Equal(attempts, []int{1, 1}) {
		t.Errorf("handler saw attempts %v, want each order once", attempts)
	}
}

func TestConsumeRetriesWhenAnOutputIsRefused(t *testing.T) {
	h := newHub(t)
	held := h.holdOutputs(t)
	var seen calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		if d.Attempt == 1 {
			return holding(ctx, d)
		}
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	select {
	case m := <-held:
		if err := m.Respond([]byte(`{"error":{"code":503,"err_code":10077,"description":"insufficient resources"}}`)); err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("no output published")
	}

	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	h.settled(t, "orders")
	if attempts, _ := seen.get(); !slices.Equal(attempts, []int{1, 2}) {
		t.Errorf("handler saw attempts %v, want [1 2]: a refused output is a transient failure", attempts)
	}
	if got := h.count(t, bus.StreamDLQ, ">"); got != 0 {
		t.Errorf("XD_DLQ holds %d messages, want none after the retry succeeded", got)
	}
}

// guardedAccept answers an event as accept does, behind a Guard creating
// key in the test's bucket on the first attempt, and without one after.
func guardedAccept(seen *calls, bucket, key string) bus.Handler {
	return func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		outs, err := accept(ctx, d)
		if err != nil || d.Attempt > 1 {
			return outs, err
		}
		return append([]bus.Outgoing{{Guard: bus.KVCreate(bucket, key, []byte(d.Event.ID()))}}, outs...), nil
	}
}

func TestConsumeGuard(t *testing.T) {
	for _, tc := range []struct {
		name         string
		existing     bool // the guard's key is written before the event comes
		wantAttempts []int
	}{
		{name: "outputs are stored once their guard is", wantAttempts: []int{1}},
		{name: "a guard refused because its key exists redelivers the message at once", existing: true, wantAttempts: []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			kv, err := h.b.Bucket(ctx, "TEST_GUARD", "guards", 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				if _, err := kv.Create(ctx, "po-417", []byte("earlier")); err != nil {
					t.Fatal(err)
				}
			}
			cfg := config("orders")
			cfg.Backoff = []time.Duration{time.Minute} // a conflict must not wait for it
			var seen calls
			h.consume(t, cfg, guardedAccept(&seen, "TEST_GUARD", "po-417"))
			h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))

			h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
			h.settled(t, "orders")
			if attempts, _ := seen.get(); !slices.Equal(attempts, tc.wantAttempts) {
				t.Errorf("handler saw attempts %v, want %v", attempts, tc.wantAttempts)
			}
			e, err := kv.Get(ctx, "po-417")
			if err != nil {
				t.Fatal(err)
			}
			want := "po-417"
			if tc.existing {
				want = "earlier"
			}
			if got := string(e.Value()); got != want || e.Revision() != 1 {
				t.Errorf("key po-417 = %q at revision %d, want %q at 1", got, e.Revision(), want)
			}
			if got := h.count(t, bus.StreamOut, ">"); got != 1 {
				t.Errorf("XD_OUT holds %d messages, want the one answer", got)
			}
		})
	}
}

func TestConsumeGuardHoldsTheOutputsUntilStored(t *testing.T) {
	h := newHub(t)
	held := h.holdOutputs(t)
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		outs, err := accept(ctx, d)
		return append([]bus.Outgoing{{Guard: &nats.Msg{Subject: "xd.test.hold.guard", Data: []byte("state")}}}, outs...), err
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-417"))
	var guard *nats.Msg
	select {
	case guard = <-held:
	case <-time.After(wait):
		t.Fatal("no guard published")
	}
	if got := h.count(t, bus.StreamOut, ">"); got != 0 {
		t.Errorf("XD_OUT holds %d messages while the guard is unacknowledged, want none", got)
	}
	if err := guard.Respond([]byte(`{"stream":"XD_TEST","seq":1}`)); err != nil {
		t.Fatal(err)
	}
	h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")
	h.settled(t, "orders")
}

// TestAConsumerWithoutAnAckWaitTakesTheBussOwn checks the AckWait the
// server is given: a consumer that sets none runs with Options.AckWait (the
// hub's tests that kill a process set it short), or DefaultAckWait when the
// bus has none; one that sets its own keeps it.
func TestAConsumerWithoutAnAckWaitTakesTheBussOwn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		bus, consumer time.Duration
		want          time.Duration
	}{
		{"neither sets one", 0, 0, bus.DefaultAckWait},
		{"the bus sets one", 3 * time.Second, 0, 3 * time.Second},
		{"the consumer's own wins", 3 * time.Second, 7 * time.Second, 7 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHubWith(t, bus.Options{AckWait: c.bus})
			cfg := config("orders")
			cfg.AckWait = c.consumer
			h.consume(t, cfg, func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) { return nil, nil })
			var got time.Duration
			bustest.CheckFor(t, wait, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				cons, err := h.js.Consumer(ctx, bus.StreamIn, "orders")
				if err != nil {
					return err
				}
				got = cons.CachedInfo().Config.AckWait
				return nil
			})
			if got != c.want {
				t.Errorf("the server's AckWait is %s, want %s", got, c.want)
			}
		})
	}
}
