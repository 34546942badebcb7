package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/intake"
)

// relayServer is the gateway's HTTP intake and its NATS relay over doorYAML,
// and a client connection publishing as customers do.
type relayServer struct {
	*doorServer
	js jetstream.JetStream
	nc *nats.Conn
}

func newRelayServer(t *testing.T) *relayServer {
	t.Helper()
	s := newDoorServer(t, DoorConfig{})
	relay := NewRelay(s.bus.Conn(), s.bus, s.door, bustest.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := relay.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay.Run: %v", err)
		}
	})
	nc, err := nats.Connect(s.bus.Conn().ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &relayServer{doorServer: s, js: js, nc: nc}
}

// publish publishes msg as its subject's sender does, with JetStream.
func (s *relayServer) publish(t *testing.T, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.js.PublishMsg(ctx, msg, opts...)
}

// binaryOrder is a binary-mode order.placed of account with id.
func binaryOrder(t testing.TB, account, gln, id string) *nats.Msg {
	t.Helper()
	data := orderData()
	data["ship_to"] = gln
	return bus.Encode("xd.in."+account+".order.placed", newEvent(t, id, "order.placed", "/accounts/"+account, "", data))
}

// refusedWith checks that err is the JetStream-shaped refusal status/code.
func refusedWith(t *testing.T, err error, status int, code string) {
	t.Helper()
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		t.Fatalf("publish error = %v, want a JetStream API error", err)
	}
	if api.Code != status || !strings.HasPrefix(api.Description, code+": ") {
		t.Errorf("refusal = %d %q, want %d %s: …", api.Code, api.Description, status, code)
	}
	if len(api.Description) > 1024 {
		t.Errorf("the refusal is %d bytes: it repeats the attribute", len(api.Description))
	}
}

func TestRelayDecidesTheDedupeKey(t *testing.T) {
	s := newRelayServer(t)
	stored := func(subject string) nats.Header {
		_, h := s.last(t, subject)
		return h
	}

	// acme names globex's key for an event with globex's next id.
	ack, err := s.publish(t, binaryOrder(t, "acme", "0614141000005", "X-1"), jetstream.WithMsgID("globex:X-1"))
	if err != nil || ack.Duplicate {
		t.Fatalf("acme's publish: %+v, %v", ack, err)
	}
	if got := stored("xd.in.acme.order.placed").Get("Nats-Msg-Id"); got != "acme:X-1" {
		t.Errorf("acme's event is stored under %q, want acme:X-1", got)
	}

	// globex's real event with that id is stored, not taken for a retry.
	ack, err = s.publish(t, binaryOrder(t, "globex", "0614141000036", "X-1"))
	if err != nil {
		t.Fatalf("globex's publish: %v", err)
	}
	if ack.Duplicate || ack.Stream != bus.StreamIn {
		t.Errorf("globex's publish = %+v, want stored in %s, not a duplicate", ack, bus.StreamIn)
	}
	if got := stored("xd.in.globex.order.placed").Get("Nats-Msg-Id"); got != "globex:X-1" {
		t.Errorf("globex's event is stored under %q, want globex:X-1", got)
	}

	t.Run("a retry over NATS of one's own id is one event", func(t *testing.T) {
		ack, err := s.publish(t, binaryOrder(t, "globex", "0614141000036", "X-1"))
		if err != nil || !ack.Duplicate {
			t.Errorf("globex's retry = %+v, %v; want a duplicate", ack, err)
		}
	})
	t.Run("a retry over HTTP of an id sent over NATS is one event", func(t *testing.T) {
		resp, body := s.post(t, keyGlobex, structuredHeader, orderOf(t, "globex", "0614141000036", "X-1"))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		if n := s.stored(t, "xd.in.globex.order.placed"); n != 1 {
			t.Errorf("XD_IN holds %d of globex's orders, want 1", n)
		}
	})
	t.Run("the client's other JetStream headers are dropped", func(t *testing.T) {
		msg := binaryOrder(t, "acme", "0614141000005", "X-2")
		msg.Header.Set("Nats-Expected-Last-Sequence", "1")
		if _, err := s.publish(t, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if h := stored("xd.in.acme.order.placed"); h.Get("Nats-Expected-Last-Sequence") != "" || h.Get("Nats-Msg-Id") != "acme:X-2" {
			t.Errorf("stored headers %v", h)
		}
	})
	t.Run("a structured event is keyed by its id member", func(t *testing.T) {
		msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Data: orderOf(t, "acme", "0614141000005", "X-3")}
		if _, err := s.publish(t, msg, jetstream.WithMsgID("globex:X-3")); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if got := stored("xd.in.acme.order.placed").Get("Nats-Msg-Id"); got != "acme:X-3" {
			t.Errorf("stored under %q, want acme:X-3", got)
		}
	})
}

func TestRelayRefusesWhatCannotBeStored(t *testing.T) {
	s := newRelayServer(t)
	rejected := bustest.Watch(t, s.bus.Conn(), "xd.out.acme.event.rejected")
	longID := binaryOrder(t, "acme", "0614141000005", "r-1")
	longID.Header.Set("ce-id", strings.Repeat("x", 70<<10))
	traceparent := binaryOrder(t, "acme", "0614141000005", "r-2")
	traceparent.Header.Set("ce-traceparent", strings.Repeat("0", 65<<10))
	structured := &nats.Msg{Subject: "xd.in.acme.order.placed", Data: orderOf(t, "acme", "0614141000005", strings.Repeat("y", 70<<10))}
	notUTF8 := binaryOrder(t, "acme", "0614141000005", "r-3")
	notUTF8.Header.Set("ce-id", "r-\xff")
	tests := []struct {
		name      string
		msg       *nats.Msg
		code      string
		field     string
		wantID    string
		dlqHeader string // a header of the original the dead letter keeps, trimmed
	}{
		{"a 70 KB id in binary mode is attribute_too_large", longID, "attribute_too_large", "id", "", "ce-id"},
		{"a 65 KB traceparent is attribute_too_large", traceparent, "attribute_too_large", "traceparent", "r-2", "ce-traceparent"},
		{"a 70 KB id in structured mode is attribute_too_large", structured, "attribute_too_large", "id", "", ""},
		{"an id that is not UTF-8 is refused", notUTF8, "schema_violation", "id", "", "ce-id"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.msg.Data
			_, err := s.publish(t, tc.msg)
			refusedWith(t, err, 400, tc.code)

			rej := bustest.Next(t, rejected, 10*time.Second)
			var data bus.RejectedData
			if err := json.Unmarshal(rej.Data(), &data); err != nil {
				t.Fatal(err)
			}
			if len(data.Errors) != 1 || data.Errors[0].Code != tc.code || data.Errors[0].Field != tc.field || data.RejectedID != tc.wantID {
				t.Errorf("event.rejected = %+v, want %s (%s) for %q", data, tc.code, tc.field, tc.wantID)
			}
			dl := lastDLQ(t, s.env, "xd.dlq.acme."+tc.code)
			if string(dl.Data) != string(body) {
				t.Errorf("the dead letter's body is not the original")
			}
			if dl.Header.Get(bus.HeaderDLQCode) != tc.code {
				t.Errorf("dead letter code = %q", dl.Header.Get(bus.HeaderDLQCode))
			}
			if tc.dlqHeader != "" {
				if v := dl.Header.Get(tc.dlqHeader); v == "" || len(v) > intake.MaxAttributeBytes {
					t.Errorf("dead letter keeps %s of %d bytes, want it trimmed to at most %d", tc.dlqHeader, len(v), intake.MaxAttributeBytes)
				}
			}

			ack, err := s.publish(t, binaryOrder(t, "globex", "0614141000036", "after-"+string(rune('a'+i))))
			if err != nil || ack.Duplicate {
				t.Errorf("globex's order right after: %+v, %v; want stored", ack, err)
			}
		})
	}
}

func TestRelayQuota(t *testing.T) {
	s := newRelayServer(t)
	for i := range 2 {
		if _, err := s.publish(t, binaryOrder(t, "umbrella", "0614141000029", "q-"+string(rune('a'+i)))); err != nil {
			t.Fatalf("umbrella's order %d within its quota: %v", i, err)
		}
	}
	_, err := s.publish(t, binaryOrder(t, "umbrella", "0614141000029", "q-c"))
	refusedWith(t, err, 429, "rate_limited")
	if _, err := s.publish(t, binaryOrder(t, "globex", "0614141000036", "q-g")); err != nil {
		t.Errorf("globex's order right after: %v", err)
	}
	s.clock.advance(time.Second)
	if _, err := s.publish(t, binaryOrder(t, "umbrella", "0614141000029", "q-c")); err != nil {
		t.Errorf("umbrella's order a second later: %v", err)
	}
	if n := s.stored(t, "xd.in.umbrella.order.placed"); n != 3 {
		t.Errorf("XD_IN holds %d of umbrella's orders, want 3 (the refused one not stored)", n)
	}
}

func TestRelayRepliesOnlyToInboxes(t *testing.T) {
	tests := []struct {
		reply string
		want  bool
	}{
		{"_INBOX.abc.1", true},
		{"_INBOX_acme.abc.1", true},
		{"xd.out.globex.order.accepted", false},
		{"_INBOX_acme.>", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := replyAllowed(tc.reply); got != tc.want {
			t.Errorf("replyAllowed(%q) = %v, want %v", tc.reply, got, tc.want)
		}
	}
}

// lastDLQ waits for the last dead letter on subject.
func lastDLQ(t *testing.T, e *env, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := e.bus.JetStream().Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	bustest.CheckFor(t, 10*time.Second, func() error {
		msg, err = st.GetLastMsgForSubject(context.Background(), subject)
		return err
	})
	return msg
}

// BenchmarkRelayDecide is the relay's work on one order (binary and
// structured mode): the sender, the limits, the quota (unbounded here), the
// key and the message to store; what it costs on every NATS event's path.
func BenchmarkRelayDecide(b *testing.B) {
	e := newEnvWith(b, strings.Replace(doorYAML, "policy: {quota: {events_per_second: 2, bytes_per_second: 0, burst_seconds: 1}}", "policy: {quota: {events_per_second: 0, bytes_per_second: 0}}", 1))
	r := NewRelay(e.bus.Conn(), e.bus, NewDoor(e.reg, DoorConfig{}), bustest.Logger(b))
	data := orderData()
	data["ship_to"] = "0614141000029"
	ev := newEvent(b, "bench-1", "order.placed", "/accounts/umbrella", "", data)
	binary := bus.Encode("xd.in.umbrella.order.placed", ev)
	binary.Reply = "_INBOX_umbrella.x.1"
	js, _ := json.Marshal(ev)
	structured := &nats.Msg{Subject: "xd.in.umbrella.order.placed", Reply: "_INBOX_umbrella.x.1", Data: js}
	for _, bc := range []struct {
		name string
		msg  *nats.Msg
	}{{"binary", binary}, {"structured", structured}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out, v := r.decide(bc.msg); out == nil {
					b.Fatalf("refused: %+v", v)
				}
			}
		})
	}
}

// BenchmarkIntakePublish is one order published with JetStream by a
// customer, acknowledged once stored in XD_IN: straight onto the stream
// (what customers did before the relay) and through the relay, which the
// hub now puts on every NATS event's path. Publishes are asynchronous, up to
// 4096 unacknowledged, as an ERP sending a backlog would.
func BenchmarkIntakePublish(b *testing.B) {
	e := newEnvWith(b, strings.Replace(doorYAML, "policy: {quota: {events_per_second: 2, bytes_per_second: 0, burst_seconds: 1}}", "policy: {quota: {events_per_second: 0, bytes_per_second: 0}}", 1))
	relayNC, err := nats.Connect(e.bus.Conn().ConnectedUrl())
	if err != nil {
		b.Fatal(err)
	}
	defer relayNC.Close()
	relay := NewRelay(relayNC, e.bus, NewDoor(e.reg, DoorConfig{}), bustest.Logger(b))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := relay.Listen(); err != nil {
		b.Fatal(err)
	}
	go func() { done <- relay.Run(ctx) }()
	defer func() { cancel(); <-done }()
	nc, err := nats.Connect(e.bus.Conn().ConnectedUrl())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	data := orderData()
	data["ship_to"] = "0614141000029"
	for _, bc := range []struct {
		name, subject string
	}{{"direct", bus.IntakePrefix + "xd.in.umbrella.order.placed"}, {"relay", "xd.in.umbrella.order.placed"}} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				n++
				msg := bus.Encode(bc.subject, newEvent(b, fmt.Sprintf("%s-%d", bc.name, n), "order.placed", "/accounts/umbrella", "", data))
				if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("umbrella:%s-%d", bc.name, n))); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publishes not acknowledged within a minute")
			}
		})
	}
}

// TestRelaySetsTheChannel: the channel extension says how an event came
// in, and the console counts the flow by it; over NATS it is nats, whatever
// the publisher named, as POST /v1/events makes it api.
func TestRelaySetsTheChannel(t *testing.T) {
	s := newRelayServer(t)
	channelOf := func(subject string) (string, *event.Event) {
		ev, _ := s.last(t, subject)
		return bus.Extension(ev, bus.ExtChannel), ev
	}
	publish := func(msg *nats.Msg) {
		t.Helper()
		if _, err := s.publish(t, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}

	t.Run("binary mode, in any header case", func(t *testing.T) {
		msg := binaryOrder(t, "acme", "0614141000005", "C-1")
		msg.Header.Set("ce-channel", "api")
		msg.Header["CE-Channel"] = []string{"portal"}
		publish(msg)
		if got, ev := channelOf("xd.in.acme.order.placed"); got != bus.ChannelNATS || ev.ID() != "C-1" {
			t.Errorf("stored %s with channel %q, want C-1 with nats", ev.ID(), got)
		}
	})
	t.Run("structured mode, escaped or repeated", func(t *testing.T) {
		body := strings.Replace(string(orderOf(t, "globex", "0614141000036", "C-2")), `{`,
			`{"channel":"api", "\u0063hannel" : "portal",`, 1)
		publish(&nats.Msg{Subject: "xd.in.globex.order.placed", Header: nats.Header{"content-type": {contentStructured}}, Data: []byte(body)})
		got, ev := channelOf("xd.in.globex.order.placed")
		if got != bus.ChannelNATS || ev.ID() != "C-2" {
			t.Errorf("stored %s with channel %q, want C-2 with nats", ev.ID(), got)
		}
		if data := ev.Data(); !strings.Contains(string(data), "0614141000036") {
			t.Errorf("the rest of the event changed: %s", data)
		}
	})
	t.Run("without a channel the event is stored as sent", func(t *testing.T) {
		body := orderOf(t, "acme", "0614141000005", "C-3")
		publish(&nats.Msg{Subject: "xd.in.acme.order.placed", Header: nats.Header{"content-type": {contentStructured}}, Data: body})
		if got, ev := channelOf("xd.in.acme.order.placed"); got != "" || ev.ID() != "C-3" {
			t.Errorf("stored %s with channel %q, want C-3 without one (nats)", ev.ID(), got)
		}
	})
}
