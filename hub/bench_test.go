package hub

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// benchIDPrefix starts the id of every order a benchmark sends; the rest is
// the order's index.
const benchIDPrefix = "e2e-"

func benchOrder(i int) order {
	return order{PO: fmt.Sprintf("PO-E2E-%07d", i), ShipTo: dcEast, Units: []float64{10, 20, 30, 40, 50}}
}

// acceptances records when the order.accepted answering each order arrives,
// matched by causationid, as the hub's own connection sees them.
type acceptances struct {
	n       int
	mu      sync.Mutex
	arrived []time.Time
	got     int
	done    chan struct{} // closed when every order has an acceptance
	sub     *nats.Subscription
}

func watchAcceptances(b *testing.B, h *testHub, n int) *acceptances {
	b.Helper()
	a := &acceptances{n: n, arrived: make([]time.Time, n), done: make(chan struct{})}
	var err error
	a.sub, err = h.nc.Subscribe("xd.out.acme.order.accepted", func(m *nats.Msg) {
		now := time.Now()
		i, err := strconv.Atoi(strings.TrimPrefix(m.Header.Get("ce-"+bus.ExtCausationID), benchIDPrefix))
		if err != nil || i < 0 || i >= n {
			return // not ours
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.arrived[i].IsZero() {
			return // a duplicate publish, which JetStream did not store
		}
		a.arrived[i] = now
		if a.got++; a.got == n {
			close(a.done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	if err := h.nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.sub.Unsubscribe() })
	return a
}

// wait returns when every order is accepted and fails the benchmark when
// some are not after a generous wait.
func (a *acceptances) wait(b *testing.B) {
	b.Helper()
	select {
	case <-a.done:
		return
	case <-time.After(2 * time.Minute):
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var missing []int
	for i := 0; i < a.n && len(missing) < 10; i++ {
		if a.arrived[i].IsZero() {
			missing = append(missing, i)
		}
	}
	dropped, _ := a.sub.Dropped()
	b.Fatalf("%d of %d orders accepted after 2m (subscription dropped %d); first missing: %v", a.got, a.n, dropped, missing)
}

// report stops the timer and reports throughput and the latency from intake
// (send) to order.accepted.
func (a *acceptances) report(b *testing.B, sent []time.Time) {
	b.StopTimer()
	a.mu.Lock()
	defer a.mu.Unlock()
	lat := make([]time.Duration, a.n)
	for i := range a.n {
		lat[i] = a.arrived[i].Sub(sent[i])
	}
	slices.Sort(lat)
	ms := func(p int) float64 { return float64(lat[(a.n-1)*p/100]) / float64(time.Millisecond) }
	b.ReportMetric(float64(a.n)/b.Elapsed().Seconds(), "orders/s")
	b.ReportMetric(ms(50), "p50-ms")
	b.ReportMetric(ms(99), "p99-ms")
}

// BenchmarkEndToEndNATS measures a customer's ERP publishing orders to
// JetStream (async, at most 256 awaiting their ack) and the hub routing,
// deciding, storing and answering each with order.accepted.
func BenchmarkEndToEndNATS(b *testing.B) {
	const window = 256
	h := startHub(b, b.TempDir())
	n := b.N
	nc := h.connect("acme")
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*window))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*nats.Msg, n)
	for i := range n {
		ev := placedEvent(b, "acme", benchIDPrefix+strconv.Itoa(i), benchOrder(i))
		msgs[i] = bus.Encode("xd.in.acme.order.placed", ev)
	}
	accepted := watchAcceptances(b, h, n)
	sent := make([]time.Time, n)

	slots := make(chan struct{}, window)
	pending := make(chan jetstream.PubAckFuture, window)
	closePending := sync.OnceFunc(func() { close(pending) })
	defer closePending()
	ackErr := make(chan error, 1)
	go func() {
		var first error
		for f := range pending {
			if err := hubtest.AwaitAck(f, 30*time.Second); err != nil && first == nil {
				first = err
			}
			<-slots
		}
		ackErr <- first
	}()

	b.ReportAllocs()
	b.ResetTimer()
	for i, m := range msgs {
		slots <- struct{}{}
		sent[i] = time.Now()
		f, err := js.PublishMsgAsync(m, jetstream.WithMsgID("acme:"+benchIDPrefix+strconv.Itoa(i)))
		if err != nil {
			b.Fatalf("publish order %d: %v", i, err)
		}
		pending <- f
	}
	closePending()
	if err := <-ackErr; err != nil {
		b.Fatalf("publish: %v", err)
	}
	accepted.wait(b)
	accepted.report(b, sent)
}

// BenchmarkEndToEndHTTP measures customers posting structured-mode orders to
// POST /v1/events from a few concurrent clients, each waiting for its 202,
// and the hub answering each with order.accepted.
func BenchmarkEndToEndHTTP(b *testing.B) {
	const clients = 8
	h := startHub(b, b.TempDir())
	n := b.N
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = orderEvent("acme", benchIDPrefix+strconv.Itoa(i), benchOrder(i))
	}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	b.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	accepted := watchAcceptances(b, h, n)
	sent := make([]time.Time, n)

	post := func(i int) error {
		req, err := http.NewRequest(http.MethodPost, h.base+"/v1/events", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key("acme"))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("order %d: %d %s", i, resp.StatusCode, body)
		}
		return nil
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ReportAllocs()
	b.ResetTimer()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				sent[i] = time.Now()
				if err := post(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("post: %v", err)
	}
	accepted.wait(b)
	accepted.report(b, sent)
}
