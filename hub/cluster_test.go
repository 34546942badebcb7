package hub

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// runCluster starts a three-node JetStream cluster in-process, on loopback
// ports, and returns its client URLs once JetStream has a meta leader.
func runCluster(t *testing.T) string {
	t.Helper()
	routes := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var urls []string
	for i, addr := range routes {
		host, port := splitAddr(t, addr)
		var peers []*url.URL
		for j, r := range routes {
			if j != i {
				peers = append(peers, &url.URL{Scheme: "nats-route", Host: r})
			}
		}
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "crossdock-test", Host: host, Port: port},
			Routes:     peers,
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i+1)
		}
		urls = append(urls, s.ClientURL())
	}
	all := strings.Join(urls, ",")
	nc, err := nats.Connect(all)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	bustest.CheckFor(t, 30*time.Second, func() error {
		_, err := js.AccountInfo(context.Background())
		return err
	})
	return all
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// TestServicesSplitAcrossProcessesOnACluster runs the gateway and router in
// one hub and the order service in two others, all on a three-node cluster
// with three replicas: an order posted to the first is accepted by one of
// the others, once, and a tier change made through one process is seen by
// the rest.
func TestServicesSplitAcrossProcessesOnACluster(t *testing.T) {
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
