package hub

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/flow"
)

func TestFlowFiguresFollowOrdersPerTier(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), nil)
	// The backlog and DLQ figures are read every FlowPoll: the test waits
	// for a reading after its dead letter, not for the default 5 s.
	cfg.FlowPoll = 100 * time.Millisecond
	h := startConfig(t, cfg)
	select {
	case <-h.flow.Following():
	case <-time.After(10 * time.Second):
		t.Fatal("the flow does not follow the streams")
	}
	for i := range 5 {
		h.sendOrder("acme", fmt.Sprintf("flow-%d", i), order{PO: fmt.Sprintf("PO-FLOW-%d", i), ShipTo: dcEast, Units: []float64{10}})
	}
	// An event with a bad schema sent over NATS is dead-lettered under its
	// account and code.
	nc := h.connect("globex")
	if err := nc.Publish("xd.in.globex.order.placed", []byte(`{"specversion":"1.0","id":"bad-1","source":"/accounts/globex","type":"crossdock.order.placed.v1","datacontenttype":"application/json","data":{"po_number":""}}`)); err != nil {
		t.Fatal(err)
	}
	var snap flow.Snapshot
	bustest.CheckFor(t, 20*time.Second, func() error {
		snap = h.flow.Snapshot()
		for _, tf := range snap.Tiers {
			if tf.Tier == "strategic" && tf.Latency[0].Orders >= 5 && tf.Total >= 5 {
				return nil
			}
		}
		return fmt.Errorf("strategic: %+v", snap.Tiers[0])
	})
	for _, c := range snap.Channels {
		if c.Name == flow.ChannelHTTP && c.Total < 5 {
			t.Errorf("http channel total = %v, want at least 5", c.Total)
		}
	}

	status, body := h.get("/v1/admin/flow", adminToken)
	if status != http.StatusOK || body["tiers"] == nil {
		t.Fatalf("GET /v1/admin/flow = %d %v", status, body)
	}
	if status, _ := h.get("/v1/admin/flow", key("acme")); status != http.StatusUnauthorized {
		t.Errorf("GET /v1/admin/flow with a customer key = %d, want 401", status)
	}
	bustest.CheckFor(t, 20*time.Second, func() error {
		resp, err := http.Get(h.base + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`crossdock_flow_decision_latency_seconds{quantile="0.99",tier="strategic",window="5m"}`,
			`crossdock_slo_burn_rate{tier="strategic",window="1h"}`,
			`crossdock_slo_breach{severity="page",tier="strategic"}`,
			`crossdock_flow_events_per_second{dimension="lane",name="priority"}`,
			`crossdock_consumer_pending{consumer="orders-priority",stream="XD_ROUTED"}`,
			`crossdock_flow_intake_events_total{channel="api"}`,
			`crossdock_flow_orders_total{outcome="accepted",tier="strategic"} 5`,
			`crossdock_flow_held_overdue_orders{tier="stable"} 0`,
		} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("/metrics has no %s", want)
			}
		}
		return nil
	})
	// The router's event.rejected answers globex's (integrated) order: an
	// outcome, counted in time, not an order left open.
	bustest.CheckFor(t, 20*time.Second, func() error {
		for _, tf := range h.flow.Snapshot().Tiers {
			if tf.Tier == "integrated" && tf.Outcomes.Rejected >= 1 && tf.SLO.Burn[0].Orders >= 1 {
				return nil
			}
		}
		return fmt.Errorf("integrated: %+v", h.flow.Snapshot().Tiers)
	})
	bustest.CheckFor(t, 20*time.Second, func() error {
		for _, d := range h.flow.Snapshot().DLQ {
			if d.Account == "globex" && d.Code == "schema_violation" && d.Count >= 1 {
				return nil
			}
		}
		return fmt.Errorf("dlq depth: %+v", h.flow.Snapshot().DLQ)
	})
}
