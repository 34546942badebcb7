package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/services/accounts"
)

// isolation measures the strategic tier at a fixed rate for half the
// duration alone, then for the other half while stable accounts flood the
// hub as fast as the window lets them (or at FloodRate, to see how the
// strategic latency follows the load).
func (r *runner) isolation(ctx context.Context) (*Isolation, error) {
	half := r.cfg.Duration / 2
	strategic := r.accountsOf(accounts.Strategic)
	stable := r.accountsOf(accounts.Stable)

	r.setPhase(phaseAlone)
	r.drive(ctx, strategic, r.cfg.Rate, half, 0)
	r.drain(ctx, 30*time.Second)
	alone := r.tierReport(string(accounts.Strategic), half.Seconds())
	r.resetLatencies(accounts.Strategic)
	r.setPhase(phaseFlood)

	floodCtx, stopFlood := context.WithCancel(ctx)
	floodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(floodDone)
		r.drive(floodCtx, stable, r.cfg.FloodRate, half, 0)
	}()
	r.drive(ctx, strategic, r.cfg.Rate, half, 0)
	stopFlood()
	<-floodDone
	floodSecs := time.Since(start).Seconds()
	r.drain(ctx, 60*time.Second)
	flood := r.tierReport(string(accounts.Strategic), half.Seconds())
	stableRep := r.tierReport(string(accounts.Stable), floodSecs)

	iso := &Isolation{StrategicRate: r.cfg.Rate, FloodRate: r.cfg.FloodRate, AloneP99: alone.Latency.P99, FloodP99: flood.Latency.P99,
		FloodSent: stableRep.Sent, FloodPerSec: stableRep.OrdersPerSec}
	if alone.Latency.P99 > 0 {
		iso.Factor = float64(flood.Latency.P99 / alone.Latency.P99)
	}
	return iso, nil
}

// warmUp sends two orders per account and waits for their answers, then
// forgets them. hub.Start returns before the services' consumers are
// attached, and the first orders of a process pay for connections, consumer
// creation and first-use allocations: measured, they made the isolation
// scenario's "alone" phase look slower than its flood phase.
func (r *runner) warmUp(ctx context.Context) error {
	r.drive(ctx, r.fleet, 0, time.Minute, 2*len(r.fleet))
	r.drain(ctx, time.Minute)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.pending); n > 0 {
		return fmt.Errorf("warm-up: %d of %d orders not answered within a minute", n, 2*len(r.fleet))
	}
	for t := range r.stats {
		r.stats[t] = &tierStats{}
	}
	clear(r.traced)
	r.last = time.Time{}
	return nil
}

// The isolation scenario's phases, as Stage.Phase names them.
const (
	phaseAlone = "alone"
	phaseFlood = "flood"
)

func (r *runner) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *runner) resetLatencies(t accounts.Tier) {
	r.mu.Lock()
	r.stats[t].latencies = nil
	r.mu.Unlock()
}

// baseline publishes, for about d, the message an order is (the same
// headers, data and a Nats-Msg-Id) to a scratch stream on the same server,
// asynchronously with the same window, and returns the rate: what one
// JetStream hop costs on this machine.
func (r *runner) baseline(ctx context.Context, d time.Duration) (Baseline, error) {
	js, err := jetstream.New(r.observer, jetstream.WithPublishAsyncMaxPending(r.cfg.Window))
	if err != nil {
		return Baseline{}, err
	}
	const name = "BENCH_RAW"
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"bench.raw"}, Storage: jetstream.FileStorage}); err != nil {
		return Baseline{}, fmt.Errorf("create %s: %w", name, err)
	}
	defer func() { _ = js.DeleteStream(context.Background(), name) }()
	n, size := 0, 0
	start := time.Now()
	for n%1000 != 0 || time.Since(start) < d {
		id := "r" + strconv.Itoa(n)
		msg := scratchOrder("bench.raw", id)
		size = len(msg.Data)
		// A slow machine (the race detector, a loaded CI) fills the window
		// of pending acks; wait for room rather than fail.
		if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithStallWait(30*time.Second)); err != nil {
			return Baseline{}, fmt.Errorf("raw publish: %w", err)
		}
		n++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return Baseline{}, fmt.Errorf("raw publish: acks not complete after a minute")
	}
	return Baseline{Messages: n, Bytes: size, PublishRate: float64(n) / time.Since(start).Seconds()}, nil
}

// scratchOrder is the message an order is, as the baseline and the floor
// publish it to their scratch streams: an order.placed with id as its
// event id and PO number, its headers and data as an account's ERP sends
// them, on subject instead of the hub's intake.
func scratchOrder(subject, id string) *nats.Msg {
	msg := orderMsg("bench", id, orderData(id, gln(1)))
	msg.Subject = subject
	return msg
}
