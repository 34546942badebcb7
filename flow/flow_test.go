package flow

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/services/accounts"
)

// clock is a settable clock for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestFlow(c *clock) *Flow {
	tiers := accounts.DefaultTiers()
	return New(Config{
		Tiers: func() accounts.TierSet { return tiers },
		TierOf: func(a string) (accounts.Tier, bool) {
			return map[string]accounts.Tier{"acme": accounts.Strategic, "umbrella": accounts.Stable}[a], a == "acme" || a == "umbrella"
		},
		Now: c.now,
	}, nil, zap.NewNop())
}

func tierOf(s Snapshot, t accounts.Tier) TierFlow {
	for _, tf := range s.Tiers {
		if tf.Tier == t {
			return tf
		}
	}
	return TierFlow{}
}

func TestLatencyQuantilesAreWithinTenPercent(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	// 100 orders accepted 1..100 ms after intake.
	for i := 1; i <= 100; i++ {
		id := string(rune('a'+i%26)) + time.Duration(i).String()
		in := c.t.Add(-time.Duration(i) * time.Millisecond)
		f.Intake(ChannelHTTP, "acme", "order.placed", id, in)
		f.Decided("acme", id, Accepted, time.Time{}, c.t)
	}
	tf := tierOf(f.Snapshot(), accounts.Strategic)
	cases := []struct {
		name      string
		got, want float64
	}{
		{"the 5-minute p50 is about 50 ms", tf.Latency[0].P50, 0.050},
		{"the 5-minute p99 is about 99 ms", tf.Latency[0].P99, 0.099},
		{"the hour's p99 is the same", tf.Latency[1].P99, 0.099},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want)/tc.want > 0.1 {
				t.Errorf("got %v s, want %v s within 10%%", tc.got, tc.want)
			}
		})
	}
	if tf.Latency[0].Orders != 100 {
		t.Errorf("orders in 5m = %d, want 100", tf.Latency[0].Orders)
	}
	// Ten minutes later, the 5-minute window is empty and the hour's is not.
	c.t = c.t.Add(10 * time.Minute)
	tf = tierOf(f.Snapshot(), accounts.Strategic)
	if tf.Latency[0].Orders != 0 || tf.Latency[1].Orders != 100 {
		t.Errorf("after 10 minutes: orders 5m = %d, 1h = %d, want 0 and 100", tf.Latency[0].Orders, tf.Latency[1].Orders)
	}
}

func TestBurnRatesAndBreaches(t *testing.T) {
	cases := []struct {
		name       string
		late, of   int // per minute, for the last 6 hours
		lastLate   int // late orders per minute in the last 5 minutes instead
		wantPage   bool
		wantTicket bool
	}{
		{"no late order burns nothing", 0, 100, 0, false, false},
		{"1% late is exactly the 99% budget: no breach", 1, 100, 1, false, false},
		{"20% late for six hours pages and tickets", 20, 100, 20, true, true},
		{"10% late for six hours tickets, not pages", 10, 100, 10, false, true},
		{"20% late that stopped five minutes ago no longer pages", 20, 100, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
			f := newTestFlow(c)
			now := c.t
			n := 0
			for m := 359; m >= 0; m-- {
				at := now.Add(-time.Duration(m) * time.Minute)
				late := tc.late
				if m < 5 {
					late = tc.lastLate
				}
				for i := range tc.of {
					n++
					id := "o" + time.Duration(n).String()
					d := 10 * time.Millisecond
					if i < late {
						d = time.Second // strategic: over 250ms
					}
					f.Intake(ChannelNATS, "acme", "order.placed", id, at.Add(-d))
					f.Decided("acme", id, Accepted, time.Time{}, at)
				}
			}
			slo := tierOf(f.Snapshot(), accounts.Strategic).SLO
			if slo == nil {
				t.Fatal("no SLO state for strategic")
			}
			var page, ticket bool
			for _, b := range slo.Breaches {
				page = page || b.Severity == "page"
				ticket = ticket || b.Severity == "ticket"
			}
			if page != tc.wantPage || ticket != tc.wantTicket {
				t.Errorf("page %v ticket %v, want %v %v (burn %+v)", page, ticket, tc.wantPage, tc.wantTicket, slo.Burn)
			}
		})
	}
}

func TestRatesCountEventsPerSecondByTierLaneAndChannel(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	for s := 1; s <= 10; s++ {
		at := c.t.Add(-time.Duration(s) * time.Second)
		for range 5 {
			f.Routed(accounts.Strategic, at)
			f.Intake(ChannelHTTP, "acme", "inventory.reported", "", at)
		}
		f.Routed(accounts.Stable, at)
	}
	s := f.Snapshot()
	if got := tierOf(s, accounts.Strategic).Rate.Rate; got != 5 {
		t.Errorf("strategic rate = %v, want 5", got)
	}
	for _, l := range s.Lanes {
		want := map[string]float64{"priority": 5, "bulk": 1, "standard": 0}[l.Name]
		if l.Rate != want {
			t.Errorf("lane %s rate = %v, want %v", l.Name, l.Rate, want)
		}
	}
	for _, ch := range s.Channels {
		if ch.Name == ChannelHTTP && (ch.Rate != 5 || ch.Total != 50) {
			t.Errorf("http rate %v total %v, want 5 and 50", ch.Rate, ch.Total)
		}
	}
	if got := len(tierOf(s, accounts.Strategic).Series); got != SeriesSeconds {
		t.Errorf("series has %d points, want %d", got, SeriesSeconds)
	}
}

func TestAnIntakeWithNoDecisionBurnsTheBudgetOnceItsTimeIsUp(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	f.Intake(ChannelNATS, "acme", "order.placed", "lost", c.t)
	// The longest accept_within of the default tiers is stable's 24h: an
	// intake waits that long before it is called unanswered.
	c.t = c.t.Add(23 * time.Hour)
	f.Intake(ChannelNATS, "acme", "order.placed", "next", c.t)
	if o := tierOf(f.Snapshot(), accounts.Strategic).Outcomes; o.Unanswered != 0 {
		t.Fatalf("unanswered after 23h = %d, want 0", o.Unanswered)
	}
	c.t = c.t.Add(61 * time.Minute)
	f.Intake(ChannelNATS, "acme", "order.placed", "later", c.t)
	s := f.Snapshot()
	tf := tierOf(s, accounts.Strategic)
	if tf.Outcomes.Unanswered != 1 {
		t.Errorf("unanswered = %d, want 1", tf.Outcomes.Unanswered)
	}
	if s.Open != 2 {
		t.Errorf("open = %d, want 2 (the lost order gone, the two younger ones waiting)", s.Open)
	}
	if b := tf.SLO.Burn[0]; b.Orders != 1 || math.Abs(b.Rate-100) > 1e-6 {
		t.Errorf("5m burn %+v, want one order, all late: 100x a 1%% budget", b)
	}
	if tf.Latency[0].Orders != 0 {
		t.Errorf("an unanswered order has no latency, but %d were measured", tf.Latency[0].Orders)
	}
	// Its decision after all that is not measured again.
	f.Decided("acme", "lost", Accepted, time.Time{}, c.t)
	if n := tierOf(f.Snapshot(), accounts.Strategic).Latency[1].Orders; n != 0 {
		t.Errorf("a forgotten intake was measured: %d orders", n)
	}
}

func TestEveryDecisionAnswersItsIntake(t *testing.T) {
	cases := []struct {
		name          string
		state         string
		decisionFirst bool
		want          Outcomes
	}{
		{"an accepted order is answered", Accepted, false, Outcomes{Accepted: 1}},
		{"a held order is answered when it is held", Held, false, Outcomes{Held: 1}},
		{"a rejected order is answered: a rejection is an outcome, not an outage", Rejected, false, Outcomes{Rejected: 1}},
		{"a decision seen before its intake is measured", Held, true, Outcomes{Held: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
			f := newTestFlow(c)
			in, at := c.t.Add(-20*time.Millisecond), c.t
			if tc.decisionFirst {
				f.Decided("acme", "po-1", tc.state, c.t.Add(time.Hour), at)
				f.Intake(ChannelHTTP, "acme", "order.placed", "po-1", in)
			} else {
				f.Intake(ChannelHTTP, "acme", "order.placed", "po-1", in)
				f.Decided("acme", "po-1", tc.state, c.t.Add(time.Hour), at)
			}
			s := f.Snapshot()
			tf := tierOf(s, accounts.Strategic)
			if tf.Outcomes != tc.want {
				t.Errorf("outcomes %+v, want %+v", tf.Outcomes, tc.want)
			}
			if l := tf.Latency[0]; l.Orders != 1 || math.Abs(l.P50-0.020)/0.020 > 0.1 {
				t.Errorf("latency %+v, want one order of about 20 ms", l)
			}
			if b := tf.SLO.Burn[0]; b.Orders != 1 || b.Rate != 0 {
				t.Errorf("5m burn %+v, want one good order", b)
			}
			if s.Open != 0 {
				t.Errorf("open = %d, want 0", s.Open)
			}
		})
	}
}

func TestAHeldOrderIsMeasuredWhenHeldAndItsReleaseApart(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	t0 := c.t
	releaseAt := t0.Add(3 * time.Hour)
	f.Intake(ChannelHTTP, "acme", "order.placed", "po-h", t0)
	f.Decided("acme", "po-h", Held, releaseAt, t0.Add(10*time.Millisecond))
	tf := tierOf(f.Snapshot(), accounts.Strategic)
	if l := tf.Latency[0]; l.Orders != 1 || l.P99 > 0.011 {
		t.Errorf("latency %+v, want the hold, about 10 ms", l)
	}
	if tf.Held.Waiting != 1 || tf.Held.Overdue != 0 {
		t.Errorf("held %+v, want one waiting, none overdue", tf.Held)
	}

	// Six minutes past its release time, not yet released: overdue.
	c.t = releaseAt.Add(6 * time.Minute)
	if h := tierOf(f.Snapshot(), accounts.Strategic).Held; h.Waiting != 1 || h.Overdue != 1 {
		t.Errorf("held %+v six minutes past release, want one waiting and overdue", h)
	}

	// Released: counted apart, its delay from its release time measured; the
	// order is not answered a second time, nor late.
	f.Decided("acme", "po-h", Accepted, time.Time{}, c.t)
	tf = tierOf(f.Snapshot(), accounts.Strategic)
	if tf.Outcomes != (Outcomes{Held: 1, Released: 1}) {
		t.Errorf("outcomes %+v, want one held, one released", tf.Outcomes)
	}
	if tf.Held.Waiting != 0 || tf.Held.Overdue != 0 || tf.Held.Released != 1 {
		t.Errorf("held %+v, want none waiting, one released in the hour", tf.Held)
	}
	if d := tf.Held.DelayP50; math.Abs(d-360)/360 > 0.1 {
		t.Errorf("release delay p50 = %v s, want about 360 s", d)
	}
	for _, b := range tf.SLO.Burn {
		if b.Rate != 0 {
			t.Errorf("burn %+v: a released order burned the budget", b)
		}
	}
	if b := tf.SLO.Burn[3]; b.Window != "6h" || b.Orders != 1 {
		t.Errorf("6h burn %+v, want the one order, counted once", b)
	}
}

func TestAnAcceptanceSeenBeforeItsIntakeIsMeasured(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	f.Decided("acme", "fast", Accepted, time.Time{}, c.t)
	f.Intake(ChannelHTTP, "acme", "order.placed", "fast", c.t.Add(-20*time.Millisecond))
	l := tierOf(f.Snapshot(), accounts.Strategic).Latency[0]
	if l.Orders != 1 || math.Abs(l.P50-0.020)/0.020 > 0.1 {
		t.Errorf("latency %+v, want one order of about 20 ms", l)
	}
	if s := f.Snapshot(); s.Open != 0 {
		t.Errorf("open = %d, want 0", s.Open)
	}
}

func TestChannelsAreBounded(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	f.Intake("x12", "acme", "order.placed", "", c.t)
	f.Intake("Not A Channel!", "acme", "order.placed", "", c.t)
	for i := range 50 {
		f.Intake(fmt.Sprintf("made-up-%d", i), "acme", "order.placed", "", c.t)
	}
	s := f.Snapshot()
	names := map[string]float64{}
	for _, ch := range s.Channels {
		names[ch.Name] = ch.Total
	}
	if len(names) > MaxChannels+1 {
		t.Errorf("%d channels, want at most %d and other", len(names), MaxChannels)
	}
	if names["x12"] != 1 || names[ChannelOther] < 1 {
		t.Errorf("channels %v, want x12 once and the rest under other", names)
	}
}

func TestTheIntakeQueueStaysBoundedBehindAHeldOrder(t *testing.T) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	tiers := accounts.DefaultTiers()
	f := New(Config{
		Tiers:   func() accounts.TierSet { return tiers },
		TierOf:  func(string) (accounts.Tier, bool) { return accounts.Strategic, true },
		Now:     c.now,
		MaxOpen: 100,
	}, nil, zap.NewNop())
	f.Intake(ChannelNATS, "acme", "order.placed", "held", c.t) // never accepted
	for i := range 10_000 {
		id := fmt.Sprintf("o-%d", i)
		f.Intake(ChannelNATS, "acme", "order.placed", id, c.t)
		f.Decided("acme", id, Accepted, time.Time{}, c.t.Add(time.Millisecond))
	}
	if n := len(f.queue.items) - f.queue.head; n > 2*100+1 {
		t.Errorf("queue holds %d keys, want at most %d", n, 2*100+1)
	}
	if n := tierOf(f.Snapshot(), accounts.Strategic).Latency[0].Orders; n != 10_000 {
		t.Errorf("measured %d orders, want 10000", n)
	}
}

func TestDecisionsAreReadFromWhatXDOUTStores(t *testing.T) {
	cause := nats.Header{"ce-causationid": {"placed-1"}}
	release := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name, subject, data string
		h                   nats.Header
		ok                  bool
		want                readDecision
	}{
		{"an order.accepted", "xd.out.acme.order.accepted", `{}`, cause, true, readDecision{account: "acme", cause: "placed-1", state: Accepted}},
		{"an order.held with its release time", "xd.out.umbrella.order.held", `{"po_number":"P","release_at":"2026-03-09T00:00:00Z"}`, cause, true,
			readDecision{account: "umbrella", cause: "placed-1", state: Held, releaseAt: release}},
		{"an order.rejected", "xd.out.acme.order.rejected", `{}`, cause, true, readDecision{account: "acme", cause: "placed-1", state: Rejected}},
		{"the router's rejection of an order.placed", "xd.out.globex.event.rejected",
			`{"rejected_id":"placed-1","rejected_type":"crossdock.order.placed.v1","errors":[]}`, cause, true,
			readDecision{account: "globex", cause: "placed-1", state: Rejected}},
		{"a rejection of another event is no decision", "xd.out.globex.event.rejected",
			`{"rejected_id":"inv-1","rejected_type":"crossdock.inventory.reported.v1","errors":[]}`, cause, false, readDecision{}},
		{"a decision naming no cause is not counted", "xd.out.acme.order.accepted", `{}`, nats.Header{}, false, readDecision{}},
		{"another subject is no decision", "xd.out.acme.shipment.dispatched", `{}`, cause, false, readDecision{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decisionOf(tc.subject, tc.h, []byte(tc.data))
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("decisionOf(%s) = %+v, %v; want %+v, %v", tc.subject, got, ok, tc.want, tc.ok)
			}
		})
	}
}
