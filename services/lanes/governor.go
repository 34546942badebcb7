package lanes

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/crossdock/crossdock/services/accounts"
)

// Governor slows the bulk lane of one process while its priority lane is
// slower than usual.
//
// Lanes give each tier its own consumers and workers, but not its own CPU.
// Measured on two cores (bench --stages), a stable flood at full speed made
// the strategic p99 four to six times longer, and every stage alike, the
// publish into XD_IN as much as the order service: every goroutine waits
// its turn for a core, and the Go scheduler has no priorities. So the way
// to keep the priority lane fast is to admit less bulk work while it has
// some.
//
// The signal is what the priority lane itself sees: how long its events
// take from JetStream storing them to being settled (handled, what they
// produced stored, acknowledged). Each tick compares the 95th percentile
// of that with the usual: the lowest median of the last ten seconds. Above
// Factor times the usual, the bulk lane's rate is cut by a quarter; within
// it the rate grows by a tenth a tick, and the limit goes once the lane
// takes less than half of it. The bulk lane always keeps Share times the
// priority lane's rate, so a mix with less bulk traffic than that is never
// slowed, and with no priority event for a second it runs free. Stable
// events wait in their stream meanwhile: durable, acknowledged to their
// senders, answered later.
//
// The stored time is the server's clock: with NATS on another machine,
// keep the clocks in step. A server clock behind ours makes the governor
// act later; one ahead, earlier, and once it is ahead by more than the
// shortest stage, not at all.
type Governor struct {
	factor float64
	floor  rate.Limit
	share  float64

	bulk         *rate.Limiter // rate.Inf while not slowing
	admitted     atomic.Int64  // bulk events admitted since the last tick
	lastPriority atomic.Int64  // unix nanoseconds of the last priority event

	mu     sync.Mutex
	stages []time.Duration // the priority lane's stage times since the last tick
}

// GovernorConfig tunes a Governor.
type GovernorConfig struct {
	// Factor is how many times its usual median the priority lane's p95
	// may reach before the bulk lane slows; zero turns the governor off.
	Factor float64
	// Floor is the rate the bulk lane is never slowed below: events per
	// second admitted across the process's bulk consumers (an order over
	// NATS passes two, the router's and the order service's); zero means
	// 100. It also bounds how long a pulled bulk message waits for its turn
	// (the few messages pulled ÷ Floor), well within the consumers' 30 s
	// AckWait.
	Floor float64
	// Share is how many times the priority lane's rate the bulk lane may
	// always take, slowed or not; zero means DefaultShare. Without it a steady mix of
	// tiers near the machine's capacity, where the priority lane is slower
	// than usual whatever the bulk lane does, held the bulk lane at the
	// floor for as long as strategic orders came in.
	Share float64
}

const (
	// tick is how often the governor sets the bulk rate.
	tick = 250 * time.Millisecond
	// priorityQuiet is how long after the last priority event the bulk
	// lane runs free again.
	priorityQuiet = time.Second
	// minSamples is the fewest priority events a tick needs to say anything.
	minSamples = 10
	// usualTicks is how many ticks' medians the usual is the lowest of.
	usualTicks = 40
)

// DefaultShare is the bulk lane's share when GovernorConfig names none: the
// priority lane's own rate (docs/performance.md, 2026-11-30).
const DefaultShare = 1.0

// NewGovernor returns a governor; Run must run for it to act.
func NewGovernor(cfg GovernorConfig) *Governor {
	if cfg.Floor <= 0 {
		cfg.Floor = 100
	}
	if cfg.Share <= 0 {
		cfg.Share = DefaultShare
	}
	return &Governor{factor: cfg.Factor, floor: rate.Limit(cfg.Floor), share: cfg.Share, bulk: rate.NewLimiter(rate.Inf, 1)}
}

// Admit returns the admission check of lane l's consumers (nil: none).
// The priority lane's records how long each event took from being stored
// to being settled; the bulk lane's waits for the bulk rate. A nil or
// disabled governor admits all.
func (g *Governor) Admit(l accounts.Lane) func(context.Context, time.Time) func() {
	if g == nil || g.factor <= 0 {
		return nil
	}
	switch l {
	case accounts.Priority:
		return func(_ context.Context, stored time.Time) func() {
			return func() {
				now := time.Now()
				g.lastPriority.Store(now.UnixNano())
				g.mu.Lock()
				g.stages = append(g.stages, now.Sub(stored))
				g.mu.Unlock()
			}
		}
	case accounts.Bulk:
		return func(ctx context.Context, _ time.Time) func() {
			g.admitted.Add(1)
			_ = g.bulk.Wait(ctx)
			return nil
		}
	}
	return nil
}

// BulkLimit is the bulk lane's rate now, in events per second admitted
// across the process's bulk consumers; +Inf while it runs free.
func (g *Governor) BulkLimit() float64 {
	if g == nil || g.bulk.Limit() == rate.Inf {
		return math.Inf(1) // rate.Inf is the largest float64, not +Inf
	}
	return float64(g.bulk.Limit())
}

// Run sets the bulk lane's rate every tick until ctx ends.
func (g *Governor) Run(ctx context.Context) error {
	if g == nil || g.factor <= 0 {
		return nil
	}
	var u usual
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			g.step(now, &u)
		}
	}
}

// step reads what the lanes did over the tick ending at now and sets the
// bulk rate.
func (g *Governor) step(now time.Time, u *usual) {
	g.mu.Lock()
	stages := g.stages
	g.stages = make([]time.Duration, 0, len(stages))
	g.mu.Unlock()
	in := signal{
		priority:     now.Sub(time.Unix(0, g.lastPriority.Load())) < priorityQuiet,
		admitted:     float64(g.admitted.Swap(0)) / tick.Seconds(),
		priorityRate: float64(len(stages)) / tick.Seconds(),
	}
	if len(stages) >= minSamples {
		slices.Sort(stages)
		// A stage shorter than nothing means the server's clock is ahead
		// of ours: the times say nothing then, and the limit stays.
		if stages[0] > 0 {
			in.ratio = float64(stages[len(stages)*95/100]) / float64(u.add(stages[len(stages)/2]))
		}
	}
	if limit := g.next(g.bulk.Limit(), in); limit != g.bulk.Limit() {
		g.bulk.SetBurst(burst(limit))
		g.bulk.SetLimit(limit)
	}
}

// usual is the lowest median of the last usualTicks ticks: how long a
// priority event takes when nothing is in its way.
type usual struct {
	medians []time.Duration
}

// add records a tick's median and returns the usual, never below 1µs.
func (u *usual) add(median time.Duration) time.Duration {
	u.medians = append(u.medians, median)
	if len(u.medians) > usualTicks {
		u.medians = u.medians[1:]
	}
	return max(slices.Min(u.medians), time.Microsecond)
}

// signal is what the governor read over one tick.
type signal struct {
	priority     bool    // a priority event was seen within priorityQuiet
	ratio        float64 // their p95 ÷ the usual median; 0: too few to tell
	admitted     float64 // bulk events admitted per second
	priorityRate float64 // priority events settled per second
}

// next is the bulk rate after a tick that read in: additive-increase,
// multiplicative-decrease around the target, as TCP does around loss.
func (g *Governor) next(cur rate.Limit, in signal) rate.Limit {
	if !in.priority {
		return rate.Inf
	}
	if in.ratio == 0 {
		return cur
	}
	floor := max(g.floor, rate.Limit(g.share*in.priorityRate))
	if in.ratio > g.factor {
		if cur == rate.Inf {
			if rate.Limit(in.admitted) <= floor {
				return rate.Inf // the bulk lane is not what is in the way
			}
			// Start from what the lane was taking, not from infinity.
			cur = rate.Limit(in.admitted)
		}
		return max(cur*0.75, floor)
	}
	if cur == rate.Inf || rate.Limit(in.admitted) < cur/2 {
		// Within the factor, and the limit is not what holds the lane
		// back: no need for one.
		return rate.Inf
	}
	return cur*1.1 + 1
}

// burst lets a slowed lane take a fifth of a tick's worth at once, so
// that its workers are not paced one event at a time.
func burst(l rate.Limit) int {
	if l == rate.Inf {
		return 1
	}
	return max(1, int(float64(l)*tick.Seconds()/5))
}
