package systemtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// childEnv, set to 1, makes the test binary run a hub instead of the tests:
// TestKilledMidStreamProcessesEveryOrderOnce starts it as a separate process
// so that it can kill it for real.
const childEnv = "CROSSDOCK_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	if spec := os.Getenv(nodeEnv); spec != "" {
		os.Exit(runNode(spec))
	}
	os.Exit(m.Run())
}

// runChild runs a hub configured by the environment variables of the
// command's flags (CROSSDOCK_DATA, CROSSDOCK_ACCOUNTS, CROSSDOCK_NATS_LISTEN,
// CROSSDOCK_HTTP) until SIGTERM or SIGINT, logging warnings to stderr.
func runChild() int {
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stderr), zap.WarnLevel))
	cfg := crashConfig(os.Getenv("CROSSDOCK_DATA"), os.Getenv("CROSSDOCK_ACCOUNTS"), os.Getenv("CROSSDOCK_NATS_LISTEN"), os.Getenv("CROSSDOCK_HTTP"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	h, err := hub.Start(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child hub:", err)
		return 1
	}
	if err := h.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "child hub stopped with:", err)
		return 1
	}
	return 0
}

// crashConfig is the configuration of the hub that
// TestKilledMidStreamProcessesEveryOrderOnce kills and of the one it
// restarts on the same storage: every service, one replica, and the short
// redelivery of killedAckWait and killedBackoff.
func crashConfig(data, accountsFile, natsListen, httpAddr string) hub.Config {
	return hub.Config{
		HTTP:       httpAddr,
		NATSListen: natsListen,
		Data:       data,
		Accounts:   accountsFile,
		Services:   []string{"all"},
		AdminToken: hubtest.AdminToken,
		Replicas:   1,
		Fsync:      "interval",
		AckWait:    killedAckWait,
		Backoff:    killedBackoff,
	}
}

// killedAckWait is the consumers' AckWait in the hubs of tests that kill
// one: what the dead process held is redelivered after it, the wait those
// tests cannot avoid. Short, but long enough for a message to be handled
// under a loaded machine's delays (a message not settled within it is
// delivered again, which the hub must and does survive, but too many times
// and it is dead-lettered).
const killedAckWait = 5 * time.Second

// killedBackoff is the delays between attempts in the hubs of tests that
// kill one: a message that failed during the leader election (each attempt
// taking up to killedAckWait) is retried within seconds, not after the
// default's 5 and 30 s, and still has about 40 s of attempts before it is
// dead-lettered, well past an election.
var killedBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}

// childHub is a hub (or a NATS node) running in another process: this test
// binary, re-run with childEnv (or nodeEnv) set.
type childHub struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    lockedBuffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// startChild starts a hub process on dir's data and accounts file, with its
// NATS client port on addr and no HTTP API.
func startChild(t *testing.T, dir, addr string) *childHub {
	t.Helper()
	return startProcess(t,
		childEnv+"=1",
		"CROSSDOCK_DATA="+filepath.Join(dir, "data"),
		"CROSSDOCK_ACCOUNTS="+filepath.Join(dir, "accounts.yaml"),
		"CROSSDOCK_NATS_LISTEN="+addr,
		"CROSSDOCK_HTTP=none",
	)
}

// startProcess re-runs this test binary with env added to the test's
// environment (TestMain picks what to run from it), and kills it when the
// test ends.
func startProcess(t *testing.T, env ...string) *childHub {
	t.Helper()
	c := &childHub{t: t, exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start child process: %v", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("child process output:\n%s", c.out.String())
		}
	})
	return c
}

// alive fails the test if the child has exited on its own.
func (c *childHub) alive() {
	c.t.Helper()
	select {
	case <-c.exited:
		c.t.Fatalf("child hub exited: %v\n%s", c.err, c.out.String())
	default:
	}
}

// kill sends SIGKILL (no shutdown of any kind) and waits for the process to
// be gone; safe to call twice.
func (c *childHub) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// lockedBuffer collects a child's output, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// dialAs connects to url as a customer account, by API key, without retries.
func dialAs(url, account string) (*nats.Conn, error) {
	return nats.Connect(url, nats.UserInfo(account, hubtest.Key(account)), nats.CustomInboxPrefix("_INBOX_"+account))
}

// quiescent reports nil once every durable consumer of XD_IN and then of
// XD_ROUTED has nothing pending and nothing awaiting an ack. The order matters: the
// router acks only after its output is stored in XD_ROUTED, so a router found
// idle before the lanes are looked at cannot add to them unseen. It reads
// each durable by name (durables): on a cluster that has lost a node,
// listing a stream's consumers waits nats-server's 4 s for the ordered
// consumers that lived only on that node, so a wait that polled the list
// saw a settle only in steps of 4 to 8 s.
func (h *testHub) quiescent() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, stream := range []string{bus.StreamIn, bus.StreamRouted} {
		names, err := h.durables(ctx, stream)
		if err != nil {
			return err
		}
		for _, name := range names {
			c, err := h.Bus.JetStream().Consumer(ctx, stream, name)
			if err != nil {
				return fmt.Errorf("consumer %s on %s: %w", name, stream, err)
			}
			if info := c.CachedInfo(); info.NumPending > 0 || info.NumAckPending > 0 {
				return fmt.Errorf("consumer %s on %s: %d pending, %d awaiting ack", name, stream, info.NumPending, info.NumAckPending)
			}
		}
	}
	return nil
}

// durables returns the names of stream's durable consumers, listed the
// first time it is asked and remembered: a hub creates its durables as it
// starts and keeps them, while ordered consumers (flow figures, scans) come
// and go and hold no work. A test that kills a node asks before it does.
func (h *testHub) durables(ctx context.Context, stream string) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if names, ok := h.durable[stream]; ok {
		return names, nil
	}
	s, err := h.Bus.JetStream().Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	var names []string
	infos := s.ListConsumers(ctx)
	for info := range infos.Info() {
		if info.Config.Durable != "" {
			names = append(names, info.Name)
		}
	}
	if err := infos.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", stream, err)
	}
	if h.durable == nil {
		h.durable = map[string][]string{}
	}
	h.durable[stream] = names
	return names, nil
}

// causations reads every message stored in XD_OUT on subject and counts
// them by the causationid of their event.
func (h *testHub) causations(subject string) map[string]int {
	h.T.Helper()
	want := int(h.Count(bus.StreamOut, subject))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := h.Bus.JetStream().OrderedConsumer(ctx, bus.StreamOut, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		h.T.Fatal(err)
	}
	got := make(map[string]int, want)
	for read := 0; read < want; {
		batch, err := cons.Fetch(want-read, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			h.T.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
			if err != nil {
				h.T.Fatalf("stored %s: %v", m.Subject(), err)
			}
			cause, _ := ev.Extensions()[bus.ExtCausationID].(string)
			got[cause]++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			h.T.Fatal(err)
		}
		if n == 0 {
			h.T.Fatalf("read %d of %d messages on %s, then nothing more", read, want, subject)
		}
		read += n
	}
	return got
}

// TestKilledMidStreamProcessesEveryOrderOnce kills a hub process (SIGKILL:
// no drain, no shutdown, consumer state as the OS last had it) while it is
// working through acknowledged orders, starts a new hub on the same storage,
// and checks what customers and warehouses see: every acknowledged order is
// accepted exactly once and asked of its warehouse exactly once, nothing is
// dead-lettered, and each order's state shows one acceptance.
func TestKilledMidStreamProcessesEveryOrderOnce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long test (runs a hub process, kills it and waits out the redelivery of what it held): skipped under -short")
	}
	const n = crashOrders
	dir := t.TempDir()
	hubtest.WriteAccounts(t, dir, nil)
	addr := freeAddr(t)
	child := startChild(t, dir, addr)
	url := "nats://" + addr

	bustest.CheckFor(t, 60*time.Second, func() error {
		child.alive()
		nc, err := dialAs(url, "acme")
		if err != nil {
			return fmt.Errorf("child hub not serving: %w", err)
		}
		nc.Close()
		return nil
	})

	customers := []struct {
		account, shipTo string
		nc              *nats.Conn
		js              jetstream.JetStream
	}{{account: "acme", shipTo: hubtest.DCEast}, {account: "globex", shipTo: hubtest.GlobexDC}, {account: "initech", shipTo: hubtest.InitechDC}}
	var accepted atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	for i := range customers {
		c := &customers[i]
		nc, err := dialAs(url, c.account)
		if err != nil {
			t.Fatalf("connect as %s: %v", c.account, err)
		}
		t.Cleanup(nc.Close)
		if _, err := nc.Subscribe("xd.out."+c.account+".order.accepted", func(*nats.Msg) {
			accepted.Add(1)
			once.Do(func() { close(first) })
		}); err != nil {
			t.Fatalf("subscribe as %s: %v", c.account, err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if c.js, err = jetstream.New(nc); err != nil {
			t.Fatal(err)
		}
		c.nc = nc
	}

	type sent struct{ account, id, po string }
	orders := make([]sent, n)
	futures := make([]jetstream.PubAckFuture, n)
	for i := range n {
		c := &customers[i%len(customers)]
		o := sent{account: c.account, id: fmt.Sprintf("crash-%05d", i), po: fmt.Sprintf("PO-CRASH-%05d", i)}
		f, err := hubtest.PublishOrder(c.js, c.account, hubtest.PlacedEvent(t, c.account, o.id, hubtest.Order{PO: o.po, ShipTo: c.shipTo, Units: []float64{10, 5}}))
		if err != nil {
			t.Fatalf("publish order %d: %v", i, err)
		}
		orders[i], futures[i] = o, f
	}
	for i, f := range futures {
		if err := hubtest.AwaitAck(f, 30*time.Second); err != nil {
			t.Fatalf("order %d (%s): %v", i, orders[i].id, err)
		}
	}

	select {
	case <-first:
	case <-time.After(60 * time.Second):
		child.alive()
		t.Fatalf("no order.accepted within 60s of %d acknowledged orders", n)
	}
	child.kill()
	atKill := accepted.Load()
	for _, c := range customers {
		c.nc.Close() // also ends the subscriptions: the count is final
	}
	t.Logf("killed the hub (%v) with %d of %d acceptances observed (%d when SIGKILL was sent)", child.err, accepted.Load(), n, atKill)
	if atKill >= n {
		t.Logf("the hub had finished before it was killed: this run shows a restart, not a crash mid-stream")
	}

	restarted := time.Now()
	h := start(t, crashConfig(filepath.Join(dir, "data"), filepath.Join(dir, "accounts.yaml"), "127.0.0.1:0", "127.0.0.1:0"))
	bustest.CheckFor(t, 60*time.Second, func() error {
		if got := h.Count(bus.StreamOut, "xd.out.*.order.accepted"); got < n {
			return fmt.Errorf("%d of %d orders accepted after the restart", got, n)
		}
		return nil
	})
	// Wait until whatever the killed process held has been redelivered and
	// settled, so that a duplicate it made would be counted below.
	bustest.CheckFor(t, 60*time.Second, h.quiescent)
	t.Logf("the restarted hub settled everything in %s", time.Since(restarted).Round(time.Millisecond))

	for _, c := range []struct{ stream, subject string }{
		{bus.StreamOut, "xd.out.*.order.accepted"},
		{bus.StreamOut, "xd.wh.*.fulfillment.requested"},
	} {
		if got := h.Count(c.stream, c.subject); got != n {
			t.Errorf("%s holds %d messages on %s, want %d", c.stream, got, c.subject, n)
		}
	}
	for _, subject := range []string{"xd.out.*.order.rejected", "xd.out.*.event.rejected"} {
		if got := h.Count(bus.StreamOut, subject); got != 0 {
			t.Errorf("%s holds %d messages on %s, want none", bus.StreamOut, got, subject)
		}
	}
	if got := h.Count(bus.StreamDLQ, "xd.dlq.>"); got != 0 {
		t.Errorf("%s holds %d dead letters, want none", bus.StreamDLQ, got)
	}

	causes := h.causations("xd.out.*.order.accepted")
	var wrong []error
	for _, o := range orders {
		if causes[o.id] != 1 {
			wrong = append(wrong, fmt.Errorf("order %s (%s) has %d order.accepted, want 1", o.id, o.po, causes[o.id]))
		}
		if err := h.CheckAcceptedOnce(o.account, o.po, o.id); err != nil {
			wrong = append(wrong, err)
		}
	}
	for i, err := range wrong {
		if i == 10 {
			t.Errorf("... and %d more", len(wrong)-i)
			break
		}
		t.Error(err)
	}
}
