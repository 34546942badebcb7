package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// config is startHub's configuration for dir, without starting anything.
func config(t *testing.T, dir string) Config {
	t.Helper()
	writeAccounts(t, dir, nil)
	return Config{
		HTTP:       "127.0.0.1:0",
		NATSListen: "127.0.0.1:0",
		Data:       filepath.Join(dir, "data"),
		Accounts:   filepath.Join(dir, "accounts.yaml"),
		Services:   []string{"all"},
		AdminToken: adminToken,
		Replicas:   1,
		Fsync:      "interval",
	}
}

// TestASecondHubOnTheSameDataRefusesToStart: two embedded servers on one
// JetStream store corrupt it. The second is refused with one line naming
// the directory; once the first has stopped, the directory is free again.
func TestASecondHubOnTheSameDataRefusesToStart(t *testing.T) {
	t.Parallel()
	cfg := config(t, t.TempDir())
	first, err := Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("first hub: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			first.Stop()
			_ = first.Wait()
		}
	})

	second, err := Start(context.Background(), cfg, bustest.Logger(t))
	if err == nil {
		second.Stop()
		_ = second.Wait()
		t.Fatal("a second hub on the same --data started, want it refused")
	}
	msg := err.Error()
	if !strings.Contains(msg, cfg.Data) || !strings.Contains(msg, "in use by another crossdock") || strings.Contains(msg, "\n") {
		t.Errorf("second hub's error = %q, want one line naming %s as in use", msg, cfg.Data)
	}
	// The first is untouched: it still takes orders.
	run := &hubtest.Hub{T: t, Base: "http://" + first.HTTPAddr(), Bus: first.Bus()}
	th := &testHub{Hub: first, t: t, cfg: cfg, base: run.Base, run: run}
	accepted := th.watch("xd.out.acme.order.accepted")
	th.sendOrder("acme", "po-1", order{PO: "PO-1", ShipTo: dcEast, Units: []float64{10}})
	next(t, accepted)

	first.Stop()
	if err := first.Wait(); err != nil {
		t.Fatalf("first hub stopped with %v", err)
	}
	stopped = true
	third, err := Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("a hub on the data of one that stopped: %v, want it started", err)
	}
	third.Stop()
	if err := third.Wait(); err != nil {
		t.Errorf("third hub stopped with %v", err)
	}
}

// TestAConsumerDeletedUnderTheHubStopsIt: a lane whose consumer is gone
// must not leave the process looking healthy; the hub stops and Wait says
// which consumer.
func TestAConsumerDeletedUnderTheHubStopsIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stream, durable string
	}{
		{"the orders service's priority lane", bus.StreamRouted, "orders-priority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(t, t.TempDir())
			h, err := Start(context.Background(), cfg, bustest.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- h.Wait() }()
			t.Cleanup(func() { h.Stop(); <-h.done })

			// The operator's own connection: the hub's closes as it stops.
			nc, err := nats.Connect(h.NATSURL(), nats.Token(adminToken))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			bustest.CheckFor(t, 10*time.Second, func() error {
				_, err := js.Consumer(context.Background(), tc.stream, tc.durable)
				return err
			})
			if err := js.DeleteConsumer(context.Background(), tc.stream, tc.durable); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.durable) {
					t.Errorf("Wait() = %v, want an error naming %s", err, tc.durable)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the hub still runs 20s after %s was deleted", tc.durable)
			}
		})
	}
}

// TestOversizedHeadersInALaneDoNotStopIt is attack 1 of issue 13 against a
// whole hub: orders whose answers cannot be stored as they are (70 KB ids
// that every answer copies), stored in the strategic lane by a client with
// stream access, more than the lane's MaxAckPending, are rejected
// attribute_too_large and dead-lettered, and the lane goes on: another
// account's order sent right after is accepted.
func TestOversizedHeadersInALaneDoNotStopIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeAccounts(t, dir, map[string]string{"globex": "strategic"}) // acme's lane
	h := startHub(t, dir)
	// The operator's connection, as a client with stream access.
	nc, err := nats.Connect(h.NATSURL(), nats.Token(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// More than the lane's MaxAckPending (64 per worker, 8 workers).
	const n = 600
	for i := range n {
		// Structured mode: the 70 KB id fits in the body; every answer
		// copies it as its causationid header.
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("%d-%s", i, strings.Repeat("x", 70_000)),
			"type": bus.Type("order.placed"), "source": "/accounts/acme", "account": "acme", "datacontenttype": "application/json",
			"data": order{PO: fmt.Sprintf("PO-H%d", i), ShipTo: dcEast, Units: []float64{1}}.Data()})
		m := &nats.Msg{Subject: "xd.routed.strategic.acme.order.placed", Header: nats.Header{"content-type": {bus.ContentTypeStructured}}, Data: body}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := js.PublishMsg(ctx, m)
		cancel()
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}

	accepted := h.watch("xd.out.globex.order.accepted")
	h.sendOrder("globex", "po-globex", order{PO: "PO-G", ShipTo: globexDC, Units: []float64{10}})
	if got := next(t, accepted); got.Extensions()["causationid"] != "po-globex" {
		t.Errorf("globex got %v", got)
	}
	h.settled(bus.StreamRouted, "orders-priority")
	if got := h.count(bus.StreamDLQ, "xd.dlq.acme."+bus.CodeAttributeTooLarge); got != n {
		t.Errorf("XD_DLQ holds %d letters for acme with code %s, want %d", got, bus.CodeAttributeTooLarge, n)
	}
}
