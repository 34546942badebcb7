package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/delivery"
)

// hook is a customer's webhook: a real listener that verifies signatures
// and records the ids that arrived, refusing with 400 while refuse is set.
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	refuse atomic.Bool
	mu     sync.Mutex
	ids    []string
}

func newHook(t *testing.T) *hook {
	h := &hook{t: t}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := delivery.Verify(r.Header.Get(delivery.HeaderSignature), "secret", body, time.Now(), 0); err != nil {
			t.Errorf("hook: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.refuse.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.ids = append(h.ids, r.Header.Get("ce-id"))
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids)
}

type env struct {
	t   *testing.T
	bus *bus.Bus
	ops *Ops
}

// topologies are the NATS set-ups every operator action is tested on: the
// hub's embedded server, and a three-node cluster with three replicas,
// where reads meet leader elections and interest still crossing routes.
var topologies = []string{"embedded", "cluster"}

// onEach runs test once on each topology.
func onEach(t *testing.T, test func(t *testing.T, topology string)) {
	for _, topo := range topologies {
		t.Run(topo, func(t *testing.T) {
			if topo == "cluster" && testing.Short() {
				t.Skip("starts a three-node cluster; skipped with -short")
			}
			test(t, topo)
		})
	}
}

func newEnv(t *testing.T, h *hook, topology string) *env {
	var b *bus.Bus
	if topology == "cluster" {
		c := bustest.RunCluster(t, nil)
		nc, err := nats.Connect(c.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if b, err = bus.New(nc, bustest.Logger(t), bus.Options{Replicas: 3}); err != nil {
			t.Fatal(err)
		}
		setupCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Setup(setupCtx); err != nil {
			t.Fatal(err)
		}
	} else {
		b = bustest.New(t, bustest.RunServer(t, ""))
	}
	ctx := context.Background()
	y := "warehouses: []\naccounts:\n  - {id: acme, name: ACME, tier: strategic, api_keys: [], locations: []"
	if h != nil {
		y += fmt.Sprintf(", webhook: {url: %q, secret: secret}", h.srv.URL)
	}
	reg := accountstest.Registry(t, b, y+"}\n")
	e := &env{t: t, bus: b, ops: New(b.JetStream(), delivery.NewSender(delivery.Retry{Attempts: 2, Base: time.Millisecond}))}
	if h != nil {
		svc, err := delivery.New(ctx, delivery.Config{Retry: delivery.Retry{Attempts: 2, Base: time.Millisecond}, Reconcile: 20 * time.Millisecond, NoExperiments: true}, b, reg, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = svc.Run(runCtx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return e
}

func (e *env) publish(subject, id string) {
	e.t.Helper()
	tok := strings.Split(subject, ".")
	name := strings.Join(tok[len(tok)-2:], ".") // order.accepted
	ev, err := bus.NewRootEvent(id, bus.Type(name), "/crossdock/test", tok[len(tok)-3], map[string]any{"id": id})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.bus.Publish(context.Background(), bus.Outgoing{Subject: subject, Event: ev}); err != nil {
		e.t.Fatal(err)
	}
}

// deadLetter waits for the one dead letter matching f.
func (e *env) deadLetter(f Filter) DeadLetter {
	e.t.Helper()
	var dls []DeadLetter
	bustest.CheckFor(e.t, 10*time.Second, func() error {
		var err error
		if dls, err = e.ops.List(context.Background(), f); err != nil {
			return err
		}
		if len(dls) != 1 {
			return fmt.Errorf("%d dead letters, want 1", len(dls))
		}
		return nil
	})
	return dls[0]
}

func TestARedrivenDeadLetterIsProcessedOnceByTheFixedConsumer(t *testing.T) {
	onEach(t, func(t *testing.T, topology string) {
		e := newEnv(t, nil, topology)
		var broken atomic.Bool
		broken.Store(true)
		var mu sync.Mutex
		var processed []string
		seqOf := map[string]uint64{} // the stream sequence each id was processed at
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = e.bus.Consume(ctx, bus.ConsumerConfig{Stream: bus.StreamRouted, Durable: "fixme", Subjects: []string{"xd.routed.>"}, Source: "/crossdock/test"},
				func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
					if broken.Load() {
						return nil, bus.Reject(bus.CodeUnknownShipTo, "the consumer has a bug", "ship_to")
					}
					mu.Lock()
					processed = append(processed, d.Event.ID())
					seqOf[d.Event.ID()] = d.Seq
					mu.Unlock()
					return nil, nil
				})
		}()
		t.Cleanup(func() { cancel(); <-done })

		e.publish("xd.routed.strategic.acme.order.placed", "po-1")
		dl := e.deadLetter(Filter{Account: "acme", Code: bus.CodeUnknownShipTo})
		if dl.EventID != "po-1" || dl.OriginalSubject != "xd.routed.strategic.acme.order.placed" || dl.OriginalStream != bus.StreamRouted {
			t.Fatalf("dead letter %+v, want po-1 from xd.routed.strategic.acme.order.placed", dl)
		}
		shown, err := e.ops.Show(context.Background(), dl.Seq)
		if err != nil || shown.Data == "" || shown.Header["ce-id"][0] != "po-1" {
			t.Fatalf("Show(%d) = %+v, %v; want the original headers and body", dl.Seq, shown, err)
		}

		broken.Store(false) // the consumer is fixed
		res, err := e.ops.Redrive(context.Background(), dl.Seq)
		if err != nil || res.Action != "republished" {
			t.Fatalf("Redrive = %+v, %v", res, err)
		}
		if _, err := e.ops.Redrive(context.Background(), dl.Seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("a second Redrive = %v, want ErrNotFound", err)
		}
		e.publish("xd.routed.strategic.acme.order.placed", "po-2")
		bustest.CheckFor(t, 10*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(processed) < 2 {
				return fmt.Errorf("processed %v", processed)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		// The consumer's workers handle messages side by side, so the
		// handler may see po-2 first; what Redrive promises is that po-1 is
		// stored again, once, before it returns: ahead of po-2 in the stream.
		if got := slices.Sorted(slices.Values(processed)); !slices.Equal(got, []string{"po-1", "po-2"}) {
			t.Errorf("processed %v, want po-1 once (redriven) and po-2 once", processed)
		}
		if seqOf["po-1"] >= seqOf["po-2"] {
			t.Errorf("redriven po-1 at stream sequence %d, po-2 published after the redrive at %d: want po-1 stored first", seqOf["po-1"], seqOf["po-2"])
		}
	})
}

func TestARedrivenWebhookDeadLetterIsDeliveredOnce(t *testing.T) {
	onEach(t, func(t *testing.T, topology string) {
		h := newHook(t)
		h.refuse.Store(true)
		e := newEnv(t, h, topology)
		e.publish("xd.out.acme.order.accepted", "ev-1")
		dl := e.deadLetter(Filter{Account: "acme", Code: bus.CodeDeliveryFailed})
		if dl.Response != "HTTP 400" || dl.Attempts != 1 {
			t.Errorf("dead letter response %q after %d attempts, want HTTP 400 after 1", dl.Response, dl.Attempts)
		}

		h.refuse.Store(false) // the customer fixed the endpoint
		res, err := e.ops.Redrive(context.Background(), dl.Seq)
		if err != nil || res.Action != "delivered" {
			t.Fatalf("Redrive = %+v, %v", res, err)
		}
		if _, err := e.ops.Redrive(context.Background(), dl.Seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("a second Redrive = %v, want ErrNotFound", err)
		}
		e.publish("xd.out.acme.order.accepted", "ev-2")
		bustest.CheckFor(t, 10*time.Second, func() error {
			if len(h.got()) < 2 {
				return fmt.Errorf("hook has %v", h.got())
			}
			return nil
		})
		if got := h.got(); !slices.Equal(got, []string{"ev-1", "ev-2"}) {
			t.Errorf("hook got %v, want ev-1 once then ev-2", got)
		}
		if dls, _ := e.ops.List(context.Background(), Filter{}); len(dls) != 0 {
			t.Errorf("DLQ still holds %d entries", len(dls))
		}
	})
}

func TestReplayResendsAnAccountsEventsInOrder(t *testing.T) {
	onEach(t, func(t *testing.T, topology string) {
		h := newHook(t)
		e := newEnv(t, nil, topology) // no delivery service: the customer lost these
		y := fmt.Sprintf("warehouses: []\naccounts:\n  - {id: acme, name: ACME, tier: strategic, api_keys: [], locations: [], webhook: {url: %q, secret: secret}}\n", h.srv.URL)
		accountstest.Registry(t, e.bus, y)
		start := time.Now().Add(-time.Second)
		e.publish("xd.out.acme.order.accepted", "r-1")
		e.publish("xd.out.acme.order.held", "r-2")
		e.publish("xd.out.globex.order.accepted", "other")
		e.publish("xd.out.acme.order.accepted", "r-3")

		tests := []struct {
			name  string
			req   ReplayRequest
			want  []string
			skips int
		}{
			{name: "everything since a time comes back in order", req: ReplayRequest{Account: "acme", Since: start}, want: []string{"r-1", "r-2", "r-3"}},
			{name: "a type filter sends only those types", req: ReplayRequest{Account: "acme", Since: start, Types: []string{"order.held"}}, want: []string{"r-2"}, skips: 2},
			{name: "a window in the past sends nothing", req: ReplayRequest{Account: "acme", Since: start.Add(-time.Hour), Until: start}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h.mu.Lock()
				h.ids = nil
				h.mu.Unlock()
				res, err := e.ops.Replay(context.Background(), tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if got := h.got(); !slices.Equal(got, tc.want) || res.Sent != len(tc.want) || res.Skipped != tc.skips {
					t.Errorf("replay sent %v (%+v), want %v with %d skipped", got, res, tc.want, tc.skips)
				}
			})
		}
	})
}

func TestATrimmedDeadLetterIsShownButNotRedriven(t *testing.T) {
	e := newEnv(t, nil, "single")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.bus.Consume(ctx, bus.ConsumerConfig{Stream: bus.StreamRouted, Durable: "strict", Subjects: []string{"xd.routed.>"}, Source: "/crossdock/test"},
			func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
				return nil, bus.Reject(bus.CodeSchemaViolation, "lines: missing", "lines")
			})
	}()
	t.Cleanup(func() { cancel(); <-done })

	ev, err := bus.NewRootEvent("po-1", bus.Type("order.placed"), "/accounts/acme", "acme", map[string]any{"po_number": "PO-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := bus.Encode("xd.routed.strategic.acme.order.placed", ev)
	m.Header.Set("ce-traceparent", strings.Repeat("f", 60_000))
	if _, err := e.bus.PublishMsgs(context.Background(), []*nats.Msg{m}, []string{"acme:po-1"}); err != nil {
		t.Fatal(err)
	}
	dl := e.deadLetter(Filter{Account: "acme", Code: bus.CodeSchemaViolation})
	if shown, err := e.ops.Show(context.Background(), dl.Seq); err != nil || shown.Header[bus.HeaderDLQTrimmed] == nil {
		t.Fatalf("Show(%d) = %+v, %v; want the letter with its %s header", dl.Seq, shown, err, bus.HeaderDLQTrimmed)
	}
	if _, err := e.ops.Redrive(context.Background(), dl.Seq); !errors.Is(err, ErrTrimmed) {
		t.Errorf("Redrive of a trimmed letter = %v, want ErrTrimmed", err)
	}
}
