package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/hub/hubtest"
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
	hubtest.WriteAccounts(t, dir, nil)
	services := [][]string{{"gateway", "router"}, {"orders", "vmi", "rfid"}, {"orders", "delivery"}}
	hubs := make([]*hub.Hub, len(services))
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
			hubs[i], errs[i] = hub.Start(context.Background(), hub.Config{
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
	edge := &hubtest.Hub{T: t, Base: "http://" + hubs[0].HTTPAddr(), Bus: hubs[0].Bus()}
	accepted := edge.Watch("xd.out.acme.order.accepted")
	edge.SendOrder("acme", "together-1", hubtest.Order{PO: "T-1", ShipTo: hubtest.DCEast, Units: []float64{1}})
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
	hubtest.WriteAccounts(t, dir, nil)
	start := func(services []string, httpAddr string) *testHub {
		return start(t, hub.Config{
			HTTP: httpAddr, NATSURL: natsURL, Accounts: filepath.Join(dir, "accounts.yaml"),
			Services: services, AdminToken: hubtest.AdminToken, Replicas: 3, Fsync: "interval",
		})
	}
	edge := start([]string{"gateway", "router"}, "127.0.0.1:0")
	start([]string{"orders"}, "none")
	start([]string{"orders"}, "none")

	info, err := edge.Bus.JetStream().Stream(context.Background(), bus.StreamRouted)
	if err != nil {
		t.Fatal(err)
	}
	if r := info.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("XD_ROUTED has %d replicas, want 3", r)
	}

	accepted := edge.Watch("xd.out.*.order.accepted")
	const n = 40
	for i := range n {
		edge.SendOrder("acme", fmt.Sprintf("c-%d", i), hubtest.Order{PO: fmt.Sprintf("C-%d", i), ShipTo: hubtest.DCEast, Units: []float64{1}})
	}
	// The order processes attach their R3 consumers in the background,
	// which on a loaded machine takes a while: wait generously.
	for range n {
		bustest.Next(t, accepted, time.Minute)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if got := edge.Count(bus.StreamOut, "xd.out.acme.order.accepted"); got != n {
			return fmt.Errorf("%d acceptances stored, want %d", got, n)
		}
		return nil
	})

	// The edge runs no order consumers but serves the order read API.
	if status, o := edge.Get("/v1/orders/C-0", hubtest.Key("acme")); status != http.StatusOK || o["state"] != "accepted" {
		t.Errorf("GET /v1/orders/C-0 at the edge: %d %v, want accepted", status, o)
	}

	changed := edge.Watch("xd.out.globex.account.tier.changed")
	req, _ := http.NewRequest(http.MethodPut, edge.Base+"/v1/admin/accounts/globex/tier", strings.NewReader(`{"tier":"strategic"}`))
	if status, body := edge.Do(req, hubtest.AdminToken, "application/json"); status != http.StatusOK {
		t.Fatalf("PUT tier: %d %v", status, body)
	}
	bustest.Next(t, changed, 10*time.Second)
	lane := edge.Watch("xd.routed.strategic.globex.order.placed")
	edge.SendOrder("globex", "c-promoted", hubtest.Order{PO: "C-P", ShipTo: hubtest.GlobexDC, Units: []float64{1}})
	if ev := bustest.Next(t, lane, 10*time.Second); ev.ID() != "c-promoted" {
		t.Errorf("strategic lane got %s, want c-promoted", ev.ID())
	}
}

// TestOrdersSurviveANodeAndAHubKilledUnderLoad runs two hubs on a three-node
// cluster with three replicas while customers of every tier post orders
// over HTTP to both, each retried under its own event id until a gateway
// answers 202, as an ERP does. Mid-load it kills (SIGKILL) the node that
// leads XD_IN, keeps sending, then cuts the second hub off (its NATS
// connections closed, nothing drained or acked) and keeps sending to the
// first. Every order answered 202 then has exactly one outcome
// (order.accepted, held or rejected, as its account's policy decides) and,
// when accepted, exactly one fulfilment request: nothing is lost across the
// leader elections or the redelivery of what the dead hub held, and nothing
// is done twice.
func TestOrdersSurviveANodeAndAHubKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node cluster of processes and waits out a redelivery; skipped with -short")
	}
	t.Parallel()
	began := time.Now()
	cluster := runProcessCluster(t)
	dir := t.TempDir()
	hubtest.WriteAccounts(t, dir, nil)
	cfg := hub.Config{
		HTTP: "127.0.0.1:0", NATSURL: cluster.url, Accounts: filepath.Join(dir, "accounts.yaml"),
		Services: []string{"gateway", "router", "orders"}, AdminToken: hubtest.AdminToken, Replicas: 3, Fsync: "interval",
		AckWait: killedAckWait, Backoff: killedBackoff,
	}
	survivor := start(t, cfg)
	victim, err := hub.Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start the second hub: %v", err)
	}
	// Once cut off it stops with an error of its own: not this test's.
	t.Cleanup(func() { victim.Stop(); _ = victim.Wait() })
	victimBase := "http://" + victim.HTTPAddr()

	t.Logf("%s: cluster and hubs up", time.Since(began).Round(time.Millisecond))
	// Outcomes as they are published: each step below waits until the
	// order service is at work, so that what is killed is killed mid-work.
	var answered atomic.Int64
	sub, err := survivor.Bus.Conn().Subscribe("xd.out.*.order.*", func(*nats.Msg) { answered.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	load := startOrderLoad(t, []string{survivor.Base, victimBase})
	step := func(what string) {
		t.Helper()
		fromOrders, fromAnswers := load.acknowledged(), answered.Load()
		bustest.CheckFor(t, 90*time.Second, func() error {
			if got := load.acknowledged() - fromOrders; got < 80 {
				return fmt.Errorf("%d orders answered 202 %s, waiting for 80", got, what)
			}
			if got := answered.Load() - fromAnswers; got < 20 {
				return fmt.Errorf("%d orders decided %s, waiting for 20", got, what)
			}
			return nil
		})
	}
	step("before anything is killed")
	// While every node answers: the settle below reads these by name.
	for _, stream := range []string{bus.StreamIn, bus.StreamRouted} {
		if _, err := survivor.durables(context.Background(), stream); err != nil {
			t.Fatal(err)
		}
	}

	leaders := map[string]string{}
	for _, stream := range []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut} {
		leaders[stream] = streamLeader(t, survivor, stream)
	}
	doomed := leaders[bus.StreamIn]
	cluster.nodes[doomed].kill()
	t.Logf("%s: killed node %s (stream leaders %v) after %d orders", time.Since(began).Round(time.Millisecond), doomed, leaders, load.acknowledged())
	step("since the node was killed")

	load.drop(victimBase)
	victim.Sever()
	t.Logf("%s: cut the second hub off after %d orders", time.Since(began).Round(time.Millisecond), load.acknowledged())
	step("since the hub was cut off")
	acked := load.halt()
	t.Logf("%s: %d orders answered 202, %d tried", time.Since(began).Round(time.Millisecond), len(acked), len(load.tried))

	// What the dead hub held is redelivered after the consumers' ack wait.
	halted := time.Now()
	bustest.CheckFor(t, 120*time.Second, survivor.quiescent)
	t.Logf("the surviving hub settled everything in %s", time.Since(halted).Round(time.Millisecond))
	select {
	case <-survivor.proc.Done():
		t.Fatalf("the surviving hub stopped: %v", survivor.proc.Wait())
	default:
	}

	outcome := map[string]string{} // event id → the type of its outcome
	outcomes, fulfilments := map[string]int{}, map[string]int{}
	rejected := 0
	read := func(m jetstream.Msg, _ uint64) bool {
		ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			t.Fatalf("stored %s: %v", m.Subject(), err)
		}
		cause, _ := ev.Extensions()[bus.ExtCausationID].(string)
		if strings.HasSuffix(m.Subject(), ".fulfillment.requested") {
			fulfilments[cause]++
			return true
		}
		outcome[cause] = m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
		outcomes[cause]++
		if outcome[cause] == "rejected" {
			rejected++
		}
		return true
	}
	// bus.Scan, as the DLQ listing reads on a cluster: a moment's "no
	// responders" while the two nodes left settle is read through.
	outputs := []string{"xd.out.*.order.accepted", "xd.out.*.order.held", "xd.out.*.order.rejected", "xd.wh.*.fulfillment.requested"}
	if err := bus.Scan(context.Background(), survivor.Bus.JetStream(), bus.StreamOut, outputs, bus.From{}, read); err != nil {
		t.Fatal(err)
	}
	letters := 0
	if err := bus.Scan(context.Background(), survivor.Bus.JetStream(), bus.StreamDLQ, []string{"xd.dlq.>"}, bus.From{}, func(jetstream.Msg, uint64) bool {
		letters++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	var wrong []error
	for id, want := range acked {
		if outcomes[id] != 1 {
			wrong = append(wrong, fmt.Errorf("order %s: %d outcomes, want 1", id, outcomes[id]))
			continue
		}
		if outcome[id] != want {
			wrong = append(wrong, fmt.Errorf("order %s: order.%s, want order.%s", id, outcome[id], want))
		}
		if want := map[bool]int{true: 1}[want == "accepted"]; fulfilments[id] != want {
			wrong = append(wrong, fmt.Errorf("order %s (%s): %d fulfilment requests, want %d", id, outcome[id], fulfilments[id], want))
		}
	}
	// An order still being retried when the load stopped may have been
	// stored: at most one outcome for it too.
	for id := range load.tried {
		if _, ok := acked[id]; !ok && (outcomes[id] > 1 || fulfilments[id] > 1) {
			wrong = append(wrong, fmt.Errorf("order %s (never answered 202): %d outcomes, %d fulfilment requests", id, outcomes[id], fulfilments[id]))
		}
	}
	for i, err := range wrong {
		if i == 10 {
			t.Errorf("... and %d more", len(wrong)-i)
			break
		}
		t.Error(err)
	}
	// A rejected order is dead-lettered as well; nothing else may be.
	if letters != rejected {
		t.Errorf("%s holds %d dead letters, want one per rejected order, %d", bus.StreamDLQ, letters, rejected)
	}
}

// streamLeader is the name of the node that leads stream's raft group.
func streamLeader(t *testing.T, h *testHub, stream string) string {
	t.Helper()
	var leader string
	bustest.CheckFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := h.Bus.JetStream().Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("%s has no leader", stream)
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

// orderLoad is customers' ERPs posting orders over HTTP, one at a time per
// account, each retried under its one event id until a gateway answers 202,
// trying the gateways in turn.
type orderLoad struct {
	t    *testing.T
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64

	mu       sync.Mutex
	gateways []string          // base URLs still in use
	acked    map[string]string // event id → the outcome its account's policy gives
	tried    map[string]bool   // every event id posted
}

// startOrderLoad starts a sender per test account, with orders its policy
// accepts, holds (later orders only on days that are not today or
// tomorrow) or rejects (every other umbrella order is below the stable
// tier's minimum).
func startOrderLoad(t *testing.T, gateways []string) *orderLoad {
	l := &orderLoad{t: t, stop: make(chan struct{}), gateways: gateways, acked: map[string]string{}, tried: map[string]bool{}}
	senders := []struct {
		account, shipTo string
		order           func(i int) (units float64, outcome string)
	}{
		{"acme", hubtest.DCEast, func(int) (float64, string) { return 2, "accepted" }},
		{"globex", hubtest.GlobexDC, func(int) (float64, string) { return 2, "accepted" }},
		{"initech", hubtest.InitechDC, func(int) (float64, string) { return 2, "accepted" }},
		{"umbrella", hubtest.StableDC, func(i int) (float64, string) {
			if i%2 == 1 {
				return 2, "rejected"
			}
			return 120, "accepted"
		}},
		{"later", hubtest.HeldDC, func(int) (float64, string) { return 120, "held" }},
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, s := range senders {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s-%05d", s.account, i)
				units, outcome := s.order(i)
				body := hubtest.OrderEvent(s.account, id, hubtest.Order{PO: "PO-" + id, ShipTo: s.shipTo, Units: []float64{units}})
				for attempt := 0; !l.post(client, i+attempt, s.account, id, body); attempt++ {
					select {
					case <-l.stop:
						return
					case <-time.After(20 * time.Millisecond): // a failed attempt: back off a little
					}
				}
				l.mu.Lock()
				l.acked[id] = outcome
				l.mu.Unlock()
				l.n.Add(1)
				select {
				case <-l.stop:
					return
				default:
				}
			}
		})
	}
	t.Cleanup(func() { l.halt() })
	return l
}

// post sends one attempt at an order to one of the gateways and reports
// whether it was answered 202.
func (l *orderLoad) post(client *http.Client, turn int, account, id string, body []byte) bool {
	l.mu.Lock()
	base := l.gateways[turn%len(l.gateways)]
	l.tried[id] = true
	l.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+hubtest.Key(account))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted
}

// acknowledged is the number of orders answered 202 so far.
func (l *orderLoad) acknowledged() int64 { return l.n.Load() }

// drop stops sending to a gateway.
func (l *orderLoad) drop(base string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gateways = slices.DeleteFunc(l.gateways, func(g string) bool { return g == base })
}

// halt stops the senders, waits for them and returns the orders answered
// 202 with the outcome each should have; safe to call twice.
func (l *orderLoad) halt() map[string]string {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// nodeEnv, set to a JSON nodeSpec, makes the test binary run one node of a
// NATS cluster instead of the tests (TestMain): a node in its own process
// can be killed for real. An in-process server.Shutdown hands its raft
// leaderships to the other nodes before it stops; a crashed node does not,
// and the cluster has to notice and elect new leaders under load.
const nodeEnv = "CROSSDOCK_TEST_NATS_NODE"

// nodeSpec is what a node process needs: its name, its client and route
// ports, the route ports of all three nodes and its storage.
type nodeSpec struct {
	Name     string
	Client   int
	Route    int
	Routes   []int
	StoreDir string
}

// runNode runs the node of spec until SIGTERM or SIGINT; the test kills it
// with SIGKILL.
func runNode(spec string) int {
	var n nodeSpec
	if err := json.Unmarshal([]byte(spec), &n); err != nil {
		fmt.Fprintln(os.Stderr, "node spec:", err)
		return 1
	}
	var routes []*url.URL
	for _, p := range n.Routes {
		if p != n.Route {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
	}
	s, err := server.NewServer(&server.Options{
		ServerName: n.Name, Host: "127.0.0.1", Port: n.Client,
		JetStream: true, StoreDir: n.StoreDir, MaxPayload: 2 << 20, NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "crossdock-test", Host: "127.0.0.1", Port: n.Route},
		Routes:  routes,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go s.Start()
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}

// processCluster is a three-node JetStream cluster whose nodes are
// processes of their own.
type processCluster struct {
	url   string               // every node's client URL, comma-separated
	nodes map[string]*childHub // by server name: n1, n2, n3
}

// runProcessCluster starts the three node processes and returns once each
// answers and JetStream has a meta leader.
func runProcessCluster(t *testing.T) *processCluster {
	t.Helper()
	port := func() int {
		_, p, _ := net.SplitHostPort(freeAddr(t))
		n, _ := strconv.Atoi(p)
		return n
	}
	specs := make([]nodeSpec, 3)
	var routes []int
	for i := range specs {
		specs[i] = nodeSpec{Name: fmt.Sprintf("n%d", i+1), Client: port(), Route: port(), StoreDir: t.TempDir()}
		routes = append(routes, specs[i].Route)
	}
	c := &processCluster{nodes: map[string]*childHub{}}
	var urls []string
	for _, spec := range specs {
		spec.Routes = routes
		b, _ := json.Marshal(spec)
		c.nodes[spec.Name] = startProcess(t, nodeEnv+"="+string(b))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", spec.Client))
	}
	c.url = strings.Join(urls, ",")
	bustest.CheckFor(t, 60*time.Second, func() error {
		for i, u := range urls {
			c.nodes[specs[i].Name].alive()
			nc, err := nats.Connect(u)
			if err != nil {
				return fmt.Errorf("node %s: %w", specs[i].Name, err)
			}
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
			nc.Close()
			if err != nil {
				return fmt.Errorf("node %s: JetStream: %w", specs[i].Name, err)
			}
		}
		return nil
	})
	return c
}
