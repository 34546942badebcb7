package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
)

// Floor is what the contract's JetStream work per order costs with no hub
// code at all, on the same server in the same run: the best this machine
// and this design can do, so that the report can say how far the hub is
// from it, where the raw baseline only says what one write costs.
type Floor struct {
	Writes       int     `json:"writes_per_order"`     // k, the stored writes it models (docs/performance.md)
	Deliveries   int     `json:"deliveries_per_order"` // consumer deliveries, each acked
	Orders       int     `json:"orders"`               // sent, and every one answered
	Stored       uint64  `json:"stored"`               // messages its streams held at the end: Writes per order
	OrdersPerSec float64 `json:"orders_per_sec"`       // from the first send to the last answer
	Ratio        float64 `json:"ratio_to_raw"`         // orders/s ÷ raw publishes/s
}

// The floor's scratch streams, bucket and subjects. The subjects are under
// bench.floor, out of the sight of every hub consumer (they filter on xd.>).
const (
	floorIn     = "BENCH_FLOOR_IN"
	floorOut    = "BENCH_FLOOR_OUT"
	floorOrders = "BENCH_FLOOR_ORDERS" // a KV bucket, like the orders service's

	floorPlaced      = "bench.floor.in.bench.order.placed"
	floorAccepted    = "bench.floor.out.bench.order.accepted"
	floorFulfillment = "bench.floor.wh.bench-wh.fulfillment.requested"

	// An order is stored four times (XD_IN, its state, its two answers)
	// and delivered once (to the router's lane, which hands it to the
	// orders service in the same process). Until 2026-12-02 the hub also
	// stored it in its lane (XD_ROUTED) and delivered it a second time, and
	// the floor modelled five writes and two deliveries.
	floorWrites     = 4
	floorDeliveries = 1

	floorBatch = 256              // messages a stage fetches at once
	floorStall = 30 * time.Second // how long a publish waits for room among the pending acks
)

// floorStreams are the streams the floor writes to, its bucket's included.
var floorStreams = []string{floorIn, floorOut, bus.BucketStream(floorOrders)}

// floor runs the floor for about d and returns what it measured (all but
// Ratio). The orders come from the observer's connection, over TCP like
// the bench accounts' orders. The one stage stands in for the hub and
// connect as it does (bus.Dial over loopback, or to --nats-url) with its
// JetStream settings (bus.New).
func (r *runner) floor(ctx context.Context, d time.Duration) (_ Floor, err error) {
	nc, err := bus.Dial(r.natsURL, nil, "crossdock-bench-floor", bus.Credentials{Token: r.admin})
	if err != nil {
		return Floor{}, fmt.Errorf("floor: %w", err)
	}
	defer nc.Close()
	b, err := bus.New(nc, zap.NewNop(), bus.Options{})
	if err != nil {
		return Floor{}, fmt.Errorf("floor: %w", err)
	}
	js := b.JetStream()
	if err := createFloor(ctx, js); err != nil {
		return Floor{}, err
	}
	defer func() {
		if derr := deleteFloor(js); err == nil {
			err = derr
		}
	}()

	// A stage's failure cancels the run with its error as the cause; so
	// does a run not done a minute after the load.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, d+time.Minute, errors.New("not done a minute after the load"))
	defer cancelTimeout()
	f := &floorRun{js: js, window: r.cfg.Window, fail: cancel}
	var stops []func()
	defer func() {
		cancel(nil)
		for _, stop := range stops {
			stop()
		}
	}()
	for _, st := range []stage{{floorIn, "orders", f.accept}} {
		stop, err := f.start(ctx, st)
		if err != nil {
			return Floor{}, err
		}
		stops = append(stops, stop)
	}

	ans := &answers{window: make(chan struct{}, r.cfg.Window), pending: make(map[string]struct{})}
	sub, err := r.observer.Subscribe(floorAccepted, ans.observe)
	if err != nil {
		return Floor{}, fmt.Errorf("floor: subscribe to answers: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	if err := r.observer.Flush(); err != nil {
		return Floor{}, fmt.Errorf("floor: subscribe to answers: %w", err)
	}
	gen, err := jetstream.New(r.observer, jetstream.WithPublishAsyncMaxPending(r.cfg.Window),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			f.fail(fmt.Errorf("publish order: %w", err))
		}))
	if err != nil {
		return Floor{}, fmt.Errorf("floor: %w", err)
	}

	start := time.Now()
	n, err := f.load(ctx, gen, ans, d)
	if err != nil {
		return Floor{}, err
	}
	if err := ans.wait(ctx); err != nil {
		return Floor{}, err
	}
	last := ans.lastAnswer()
	for _, stop := range stops {
		stop()
	}
	if err := context.Cause(ctx); err != nil {
		return Floor{}, fmt.Errorf("floor: %w", err)
	}
	stored, err := f.stored(ctx)
	if err != nil {
		return Floor{}, err
	}
	fl := Floor{Writes: floorWrites, Deliveries: floorDeliveries, Orders: n, Stored: stored}
	if secs := last.Sub(start).Seconds(); n > 0 && secs > 0 {
		fl.OrdersPerSec = float64(n) / secs
	}
	return fl, nil
}

// createFloor creates the floor's streams and bucket as the hub creates its
// own (bus.Setup, bus.Bucket): file storage, the hub's duplicate window,
// the orders bucket's history. It deletes first what a run that died left.
func createFloor(ctx context.Context, js jetstream.JetStream) error {
	if err := deleteFloor(js); err != nil {
		return err
	}
	for _, c := range []struct{ name, subjects string }{
		{floorIn, "bench.floor.in.>"},
		{floorOut, "bench.floor.out.> bench.floor.wh.>"},
	} {
		cfg := jetstream.StreamConfig{Name: c.name, Subjects: strings.Fields(c.subjects), Storage: jetstream.FileStorage, Duplicates: bus.DuplicateWindow}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return fmt.Errorf("floor: create stream %s: %w", c.name, err)
		}
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: floorOrders, History: 5, Storage: jetstream.FileStorage}); err != nil {
		return fmt.Errorf("floor: create kv bucket %s: %w", floorOrders, err)
	}
	return nil
}

// deleteFloor deletes the floor's streams, its bucket's included, those
// that exist. It has its own deadline: it runs when the run's has passed.
func deleteFloor(js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, name := range floorStreams {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("floor: delete stream %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// floorRun is one run of the floor: the stages' JetStream (the hub side),
// the window, and how a stage fails the run.
type floorRun struct {
	js     jetstream.JetStream
	window int
	fail   context.CancelCauseFunc
}

// stage is one of the floor's consumers: the stream it reads, its durable
// name, and what it publishes for each message.
type stage struct {
	stream, name string
	publish      func(jetstream.Msg) ([]jetstream.PubAckFuture, error)
}

// start runs st until the returned stop is called. One goroutine fetches in
// batches and publishes for each message; a second waits for those
// publishes' acks, message by message in order, and then acks the message.
// So a batch's publishes are in flight together (pipelined), which is what
// makes this a floor. stop ends the fetching and returns once every message
// fetched is acked, or ctx is done.
func (f *floorRun) start(ctx context.Context, st stage) (stop func(), err error) {
	cons, err := f.js.CreateOrUpdateConsumer(ctx, st.stream, jetstream.ConsumerConfig{
		Durable: st.name, AckPolicy: jetstream.AckExplicitPolicy,
		// Never the bound: the window is.
		MaxAckPending: 2*f.window + floorBatch,
	})
	if err != nil {
		return nil, fmt.Errorf("floor: create consumer %s on %s: %w", st.name, st.stream, err)
	}
	type job struct {
		m    jetstream.Msg
		acks []jetstream.PubAckFuture
	}
	jobs := make(chan job, floorBatch)
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		// Drains jobs to the end, even failed, so that the fetcher never
		// blocks on it.
		for j := range jobs {
			if err := waitAcks(ctx, j.acks); err != nil {
				f.fail(fmt.Errorf("%s stage: %w", st.name, err))
				continue
			}
			if err := j.m.Ack(); err != nil {
				f.fail(fmt.Errorf("%s stage: ack: %w", st.name, err))
			}
		}
	}()
	fetching, stopFetching := context.WithCancel(ctx)
	hand := func(b jetstream.MessageBatch) (n int) {
		for m := range b.Messages() {
			n++
			acks, err := st.publish(m)
			if err != nil {
				f.fail(fmt.Errorf("%s stage: %w", st.name, err))
				continue
			}
			jobs <- job{m, acks}
		}
		if err := b.Error(); err != nil && fetching.Err() == nil {
			f.fail(fmt.Errorf("%s stage: fetch: %w", st.name, err))
		}
		return n
	}
	go func() {
		defer close(jobs)
		for fetching.Err() == nil {
			b, err := cons.FetchNoWait(floorBatch)
			if err == nil && hand(b) == 0 {
				// Nothing waiting: wait for the next message.
				b, err = cons.Fetch(floorBatch, jetstream.FetchContext(fetching))
				if err == nil {
					hand(b)
				}
			}
			if err != nil && fetching.Err() == nil {
				f.fail(fmt.Errorf("%s stage: fetch: %w", st.name, err))
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stopFetching()
			<-acked
		})
	}, nil
}

// waitAcks waits for every publish ack of acks, in order.
func waitAcks(ctx context.Context, acks []jetstream.PubAckFuture) error {
	for _, a := range acks {
		select {
		case <-a.Ok():
		case err := <-a.Err():
			return fmt.Errorf("publish %s: %w", a.Msg().Subject, err)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// accept is the hub's work on an order (the router's lane handing it to the
// orders service): create its state, then
// its order.accepted, naming the order as its cause, and its
// fulfillment.requested, each with a Nats-Msg-Id of its own.
func (f *floorRun) accept(m jetstream.Msg) ([]jetstream.PubAckFuture, error) {
	id := m.Headers().Get("ce-id")
	return f.publish(
		// What KeyValue.Create publishes.
		write{&nats.Msg{Subject: "$KV." + floorOrders + ".bench." + id, Data: m.Data()}, jetstream.WithExpectLastSequencePerSubject(0)},
		write{answerMsg(floorAccepted, "crossdock.order.accepted.v1", "a-"+id, id, m.Data()), jetstream.WithMsgID("a-" + id)},
		write{answerMsg(floorFulfillment, "crossdock.fulfillment.requested.v1", "f-"+id, id, m.Data()), jetstream.WithMsgID("f-" + id)},
	)
}

// write is a message a stage publishes, with its option (nil for none).
type write struct {
	msg *nats.Msg
	opt jetstream.PublishOpt
}

// publish publishes every write asynchronously, waiting for room when the
// connection's pending acks are full rather than failing.
func (f *floorRun) publish(ws ...write) ([]jetstream.PubAckFuture, error) {
	acks := make([]jetstream.PubAckFuture, 0, len(ws))
	for _, w := range ws {
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(floorStall)}
		if w.opt != nil {
			opts = append(opts, w.opt)
		}
		a, err := f.js.PublishMsgAsync(w.msg, opts...)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", w.msg.Subject, err)
		}
		acks = append(acks, a)
	}
	return acks, nil
}

// answerMsg is an event the orders service makes of an order, in binary
// mode, naming the order's event id as its cause.
func answerMsg(subject, typ, id, cause string, data []byte) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {id}, "ce-source": {"/crossdock/orders"}, "ce-type": {typ},
		"ce-causationid": {cause}, "content-type": {"application/json"},
	}, Data: data}
}

// load publishes orders to the floor's intake for d, each with its own
// Nats-Msg-Id, with no more than the window unanswered, and returns how
// many it sent.
func (f *floorRun) load(ctx context.Context, gen jetstream.JetStream, ans *answers, d time.Duration) (int, error) {
	start := time.Now()
	n := 0
	for ; time.Since(start) < d; n++ {
		select {
		case ans.window <- struct{}{}:
		case <-ctx.Done():
			return n, fmt.Errorf("floor: %w", context.Cause(ctx))
		}
		id := "f" + strconv.Itoa(n)
		ans.expect(id)
		if _, err := gen.PublishMsgAsync(scratchOrder(floorPlaced, id), jetstream.WithMsgID(id), jetstream.WithStallWait(floorStall)); err != nil {
			return n, fmt.Errorf("floor: publish order: %w", err)
		}
	}
	return n, nil
}

// stored counts the messages in the floor's streams.
func (f *floorRun) stored(ctx context.Context) (uint64, error) {
	var n uint64
	for _, name := range floorStreams {
		s, err := f.js.Stream(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("floor: stream %s: %w", name, err)
		}
		n += s.CachedInfo().State.Msgs
	}
	return n, nil
}

// answers matches the floor's order.accepted answers to its orders by
// causation id, as the bench does the hub's, and frees each answered
// order's slot in the window.
type answers struct {
	window  chan struct{} // a slot per order sent and not yet answered
	mu      sync.Mutex
	pending map[string]struct{}
	last    time.Time
}

func (a *answers) expect(id string) {
	a.mu.Lock()
	a.pending[id] = struct{}{}
	a.mu.Unlock()
}

// observe takes one answer; one for no order sent, or a second for one
// order (a redelivery), is ignored.
func (a *answers) observe(m *nats.Msg) {
	cause := m.Header.Get("ce-causationid")
	a.mu.Lock()
	_, ok := a.pending[cause]
	if ok {
		delete(a.pending, cause)
		a.last = time.Now()
	}
	a.mu.Unlock()
	if ok {
		<-a.window
	}
}

// wait returns once every order sent is answered, which is when the whole
// window is free: it takes every slot.
func (a *answers) wait(ctx context.Context) error {
	for range cap(a.window) {
		select {
		case a.window <- struct{}{}:
		case <-ctx.Done():
			a.mu.Lock()
			n := len(a.pending)
			a.mu.Unlock()
			return fmt.Errorf("floor: %d orders not answered: %w", n, context.Cause(ctx))
		}
	}
	return nil
}

func (a *answers) lastAnswer() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}
