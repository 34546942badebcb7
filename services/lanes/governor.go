package lanes

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Governor makes the bulk lane of one process give way to its priority
// lane, in up to three ways: strict priority (GovernorConfig.Slots), a
// connection of the bulk lane's own (GovernorConfig.Bulk), and slowing the
// bulk lane while its priority lane is slower than usual (Factor).
//
// Strict priority takes the priority lane's work first at the stages the
// hub controls: a bulk event is handled only while no priority event is,
// a few at a time, and an HTTP request of the bulk lane is checked and
// stored only then too (Enter). It holds nothing back while the priority
// lane has nothing in hand: unlike slowing, it leaves the bulk lane the
// machine's spare capacity, whatever that is.
//
// Lanes give each tier its own consumers and workers, but not its own CPU.
// Measured on two cores (bench --stages), a stable flood at full speed made
// the strategic p99 four to six times longer, and every stage alike, the
// publish into XD_IN as much as the order service: every goroutine waits
// its turn for a core, and the Go scheduler has no priorities. So the way
// to keep the priority lane fast is to admit less bulk work while it has
// some.
//
// Slowing's signal is what the priority lane itself sees: how long its events
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

	gate    *gate    // nil: no strict priority
	bulkBus *bus.Bus // nil: the bulk lane shares its service's bus
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
	// Slots, when positive, serves the lanes in strict priority instead
	// of (or beside) slowing the bulk lane: this process handles a bulk
	// event only while it handles no priority event, and at most Slots
	// bulk events at once. It holds the bulk lane back only while the
	// priority lane has work in hand, so the bulk lane takes whatever the
	// priority lane leaves.
	Slots int
	// Bulk, when set, is the bus the bulk lane's consumers pull, publish
	// and acknowledge on: a NATS connection of their own, so that a
	// priority event's delivery, publish or ack never waits behind the
	// bulk lane's in one socket and in the one read loop the server runs
	// per connection.
	Bulk *bus.Bus
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
	// maxBulkWait is how long strict priority holds a bulk event back
	// while the priority lane stays busy: well inside any AckWait, so a
	// priority lane that never idles slows the bulk lane without making
	// its messages redelivered.
	maxBulkWait = time.Second
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
	g := &Governor{factor: cfg.Factor, floor: rate.Limit(cfg.Floor), share: cfg.Share, bulk: rate.NewLimiter(rate.Inf, 1), bulkBus: cfg.Bulk}
	if cfg.Slots > 0 {
		g.gate = newGate(cfg.Slots, maxBulkWait)
	}
	return g
}

// Admit returns the admission check of lane l's consumers (nil: none).
// With strict priority the priority lane's counts its events in while
// they are handled, and the bulk lane's waits its turn; while slowing,
// the priority lane's records how long each event took from being stored
// to being settled, and the bulk lane's waits for the bulk rate. A nil or
// disabled governor admits all.
func (g *Governor) Admit(l accounts.Lane) func(context.Context, time.Time) bus.Admission {
	if g == nil || g.factor <= 0 && g.gate == nil {
		return nil
	}
	switch l {
	case accounts.Priority:
		return func(_ context.Context, stored time.Time) bus.Admission {
			var a bus.Admission
			if g.gate != nil {
				a.Handled = g.Enter(context.Background(), l)
			}
			if g.factor > 0 {
				a.Settled = func() { g.settled(stored) }
			}
			return a
		}
	case accounts.Bulk:
		return func(ctx context.Context, _ time.Time) bus.Admission {
			if g.factor > 0 {
				g.admitted.Add(1)
				_ = g.bulk.Wait(ctx)
			}
			if g.gate != nil {
				return bus.Admission{Handled: g.Enter(ctx, l)}
			}
			return bus.Admission{}
		}
	}
	return nil
}

// Enter waits until lane l may take one more piece of work (an HTTP
// request the gateway checks and stores, say) and returns the func that
// says it is done: strict priority (GovernorConfig.Slots) as the lanes'
// consumers keep it. A nil governor, one without strict priority and the
// standard lane go at once.
func (g *Governor) Enter(ctx context.Context, l accounts.Lane) (done func()) {
	if g == nil || g.gate == nil {
		return func() {}
	}
	switch l {
	case accounts.Priority:
		return g.gate.enterPriority()
	case accounts.Bulk:
		return g.gate.enterBulk(ctx)
	}
	return func() {}
}

// settled records a priority event that JetStream stored at stored and
// this process has just settled.
func (g *Governor) settled(stored time.Time) {
	now := time.Now()
	g.lastPriority.Store(now.UnixNano())
	g.mu.Lock()
	g.stages = append(g.stages, now.Sub(stored))
	g.mu.Unlock()
}

// Bus is the bus lane l consumes and publishes on: b, or the bulk lane's
// own connection when the governor has one.
func (g *Governor) Bus(l accounts.Lane, b *bus.Bus) *bus.Bus {
	if g != nil && l == accounts.Bulk && g.bulkBus != nil {
		return g.bulkBus
	}
	return b
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
