package bus_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

// TestDeadLetterCanBeStoredAndSaysWhereTheOriginalWas stores in XD_OUT a
// message that carries JetStream instructions (Nats-Expected-Stream), reads
// it as a consumer would, and dead-letters it: the letter keeps the
// original's bytes and own headers, drops the instructions (a copy of
// Nats-Expected-Stream: XD_OUT would make XD_DLQ refuse it) and goes to the
// sender's DLQ subject.
func TestDeadLetterCanBeStoredAndSaysWhereTheOriginalWas(t *testing.T) {
	tests := []struct {
		name    string
		sender  bus.Sender
		subject string
	}{
		{name: "an account's letter", sender: bus.Sender{Account: "acme"}, subject: "xd.dlq.acme.delivery_failed"},
		{name: "a warehouse's letter", sender: bus.Sender{Warehouse: "dc-east"}, subject: "xd.dlq.wh.dc-east.delivery_failed"},
		{name: "an unknown sender's letter", sender: bus.Sender{}, subject: "xd.dlq._unknown.delivery_failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t)
			ctx := context.Background()
			orig := nats.NewMsg("xd.out.acme.order.accepted")
			orig.Header.Set("ce-id", "ev-1")
			orig.Data = []byte(`{"po_number":"PO-1"}`)
			ack, err := h.js.PublishMsg(ctx, orig, jetstream.WithExpectStream(bus.StreamOut), jetstream.WithMsgID("ev-1"))
			if err != nil {
				t.Fatal(err)
			}
			var m jetstream.Msg
			err = bus.Scan(ctx, h.js, bus.StreamOut, []string{"xd.out.acme.>"}, bus.From{}, func(got jetstream.Msg, _ uint64) bool { m = got; return false })
			if err != nil || m == nil {
				t.Fatalf("read the original: %v", err)
			}
			if m.Headers().Get("Nats-Expected-Stream") == "" {
				t.Fatal("the stored original lost Nats-Expected-Stream; the test proves nothing")
			}

			letter := bus.DeadLetter(m, "delivery-acct-acme", tc.sender, bus.Reject(bus.CodeDeliveryFailed, "HTTP 400", ""), 3)
			if _, err := h.js.PublishMsg(ctx, letter, jetstream.WithMsgID(letter.Header.Get("Nats-Msg-Id"))); err != nil {
				t.Fatalf("store the dead letter: %v", err)
			}
			stored := h.last(t, bus.StreamDLQ, tc.subject)
			if string(stored.Data) != string(orig.Data) || stored.Header.Get("ce-id") != "ev-1" {
				t.Errorf("letter = %q with ce-id %q, want the original's bytes and headers", stored.Data, stored.Header.Get("ce-id"))
			}
			want := map[string]string{
				bus.HeaderDLQCode:      bus.CodeDeliveryFailed,
				bus.HeaderDLQSubject:   "xd.out.acme.order.accepted",
				bus.HeaderDLQStream:    bus.StreamOut,
				bus.HeaderDLQSequence:  "1",
				bus.HeaderDLQConsumer:  "delivery-acct-acme",
				bus.HeaderDLQAttempts:  "3",
				bus.HeaderDLQErrors:    `[{"code":"delivery_failed","message":"HTTP 400"}]`,
				"Nats-Expected-Stream": "",
			}
			for k, v := range want {
				if got := stored.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if ack.Sequence != 1 {
				t.Errorf("original at %d, want 1", ack.Sequence)
			}
		})
	}
}

// TestARefusedLetterIsKeptOncePerMessage dead-letters a message that no
// stream stored (as the intake relay does): the letter drops JetStream's
// instructions whatever their case and any Crossdock-Dlq-* header the
// sender wrote itself (it would pass for the hub's), and its Nats-Msg-Id
// comes from the message's content, so the same message refused twice is
// one letter and two messages on one subject are two.
func TestARefusedLetterIsKeptOncePerMessage(t *testing.T) {
	msg := func(body string) *nats.Msg {
		m := nats.NewMsg("xd.in.acme.order.placed")
		m.Header.Set("ce-id", "ev-1")
		m.Header["nats-rollup"] = []string{"all"}
		m.Header.Set(bus.HeaderDLQStream, "XD_FORGED")
		m.Data = []byte(body)
		return m
	}
	refuse := func(m *nats.Msg) *nats.Msg {
		return bus.RefusedLetter(m, "intake", bus.Sender{Account: "acme"}, bus.Reject(bus.CodeSchemaViolation, "bad", "id"))
	}
	letter := refuse(msg(`{"po_number":"PO-1"}`))
	for k, want := range map[string]string{
		"ce-id": "ev-1", "nats-rollup": "", bus.HeaderDLQStream: "", bus.HeaderDLQSequence: "",
		bus.HeaderDLQConsumer: "intake", bus.HeaderDLQAttempts: "1", bus.HeaderDLQSubject: "xd.in.acme.order.placed",
	} {
		if got := letter.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if v := letter.Header.Values("nats-rollup"); len(v) != 0 {
		t.Errorf("nats-rollup kept as %q, want it dropped", v)
	}
	if letter.Subject != "xd.dlq.acme.schema_violation" {
		t.Errorf("letter on %s, want xd.dlq.acme.schema_violation", letter.Subject)
	}
	id := letter.Header.Get("Nats-Msg-Id")
	if again := refuse(msg(`{"po_number":"PO-1"}`)).Header.Get("Nats-Msg-Id"); again != id {
		t.Errorf("the same message refused again has id %q, want %q", again, id)
	}
	if other := refuse(msg(`{"po_number":"PO-2"}`)).Header.Get("Nats-Msg-Id"); other == id {
		t.Errorf("another message on the same subject has the same id %q", id)
	}
}
