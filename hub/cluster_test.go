package hub

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// runCluster starts a three-node JetStream cluster in-process, on loopback
// ports, and returns its client URLs once JetStream has a meta leader.
func runCluster(t *testing.T) string {
	t.Helper()
	return bustest.RunCluster(t, nil).URL
}

// TestHubsStartedTogetherOnAFreshClusterAllComeUp starts three hubs at the
// same moment against a new three-node cluster, as docker compose does:
// each creates the same R3 streams and buckets, and each comes up.
func TestHubsStartedTogetherOnAFreshClusterAllComeUp(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a three-node cluster; skipped with -short")
	}
	natsURL := runCluster(t)
	dir := t.TempDir()
	writeAccounts(t, dir, nil)
	services := [][]string{{"gateway", "router"}, {"orders", "vmi", "rfid"}, {"orders", "delivery"}}
	hubs := make([]*Hub, len(services))
	errs := make([]error, len(services))
	var ready, wg sync.WaitGroup
	ready.Add(1)
	for i, svc := range services {
		wg.Go(func() {
			ready.Wait() // all at once
			httpAddr := "none"
			if i == 0 {
				httpAddr = "127.0.0.1:0"
			}
			hubs[i], errs[i] = Start(context.Background(), Config{
				HTTP: httpAddr, NATSURL: natsURL, Accounts: filepath.Join(dir, "accounts.yaml"),
				Services: svc, Replicas: 3, Fsync: "interval",
			}, bustest.Logger(t))
		})
	}
	ready.Done()
	wg.Wait()
	for i, h := range hubs {
		if h != nil {
			t.Cleanup(func() { h.Stop(); _ = h.Wait() })
		}
		if errs[i] != nil {
			t.Errorf("hub %d (%v) did not start: %v", i, services[i], errs[i])
		}
	}
	if t.Failed() {
		return
	}
	edge := &testHub{Hub: hubs[0], t: t, base: "http://" + hubs[0].HTTPAddr()}
	accepted := edge.watch("xd.out.acme.order.accepted")
	edge.sendOrder("acme", "together-1", order{PO: "T-1", ShipTo: dcEast, Units: []float64{1}})
	if ev := bustest.Next(t, accepted, time.Minute); ev.Extensions()["causationid"] != "together-1" {
		t.Errorf("accepted %v, want the answer to together-1", ev)
	}
}

// TestServicesSplitAcrossProcessesOnACluster runs the gateway and router in
// one hub and the order service in two others, all on a three-node cluster
// with three replicas: an order posted to the first is accepted by one of
// the others, once, and a tier change made through one process is seen by
// the rest.
func TestServicesSplitAcrossProcessesOnACluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a three-node cluster; skipped with -short")
	}
	natsURL := runCluster(t)
	dir := t.TempDir()
	writeAccounts(t, dir, nil)
	start := func(services []string, httpAddr string) *testHub {
		return startConfig(t, Config{
			HTTP: httpAddr, NATSURL: natsURL, Accounts: filepath.Join(dir, "accounts.yaml"),
			Services: services, AdminToken: adminToken, Replicas: 3, Fsync: "interval",
		})
	}
	edge := start([]string{"gateway", "router"}, "127.0.0.1:0")
	start([]string{"orders"}, "none")
	start([]string{"orders"}, "none")

	info, err := edge.bus.JetStream().Stream(context.Background(), bus.StreamRouted)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("XD_ROUTED has %d replicas, want 3", r)
	}

	accepted := edge.watch("xd.out.*.order.accepted")
	const n = 40
	for i := range n {
		edge.sendOrder("acme", fmt.Sprintf("c-%d", i), order{PO: fmt.Sprintf("C-%d", i), ShipTo: dcEast, Units: []float64{1}})
	}
	// The order processes attach their R3 consumers in the background,
	// which on a loaded machine takes a while: wait generously.
	for range n {
		bustest.Next(t, accepted, time.Minute)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if got := edge.count(bus.StreamOut, "xd.out.acme.order.accepted"); got != n {
			return fmt.Errorf("%d acceptances stored, want %d", got, n)
		}
		return nil
	})

	// The edge runs no order consumers but serves the order read API.
	if status, o := edge.get("/v1/orders/C-0", key("acme")); status != http.StatusOK || o["state"] != "accepted" {
		t.Errorf("GET /v1/orders/C-0 at the edge: %d %v, want accepted", status, o)
	}

	changed := edge.watch("xd.out.globex.account.tier.changed")
	req, _ := http.NewRequest(http.MethodPut, edge.base+"/v1/admin/accounts/globex/tier", strings.NewReader(`{"tier":"strategic"}`))
	if status, body := edge.do(req, adminToken, "application/json"); status != http.StatusOK {
		t.Fatalf("PUT tier: %d %v", status, body)
	}
	next(t, changed)
	lane := edge.watch("xd.routed.strategic.globex.order.placed")
	edge.sendOrder("globex", "c-promoted", order{PO: "C-P", ShipTo: globexDC, Units: []float64{1}})
	if ev := next(t, lane); ev.ID() != "c-promoted" {
		t.Errorf("strategic lane got %s, want c-promoted", ev.ID())
	}
}
