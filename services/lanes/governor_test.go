package lanes

import (
	"context"
	"math"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

func TestGovernorNext(t *testing.T) {
	t.Parallel()
	g := NewGovernor(GovernorConfig{Factor: 3, Share: 4}) // floor 100
	tests := []struct {
		name string
		cur  rate.Limit
		in   signal
		want rate.Limit
	}{
		{"no priority event lately: the bulk lane runs free", 500, signal{priority: false, ratio: 10, admitted: 5000}, rate.Inf},
		{"too few priority events to tell: no change", 500, signal{priority: true}, 500},
		{"slowed priority lane: cut from what the bulk lane took", rate.Inf, signal{priority: true, ratio: 4, admitted: 8000, priorityRate: 400}, 6000},
		{"still slowed: cut by a quarter", 6000, signal{priority: true, ratio: 4, admitted: 6000, priorityRate: 400}, 4500},
		{"never below the floor", 110, signal{priority: true, ratio: 4, admitted: 110, priorityRate: 10}, 100},
		{"never below share times the priority lane's rate", 2000, signal{priority: true, ratio: 4, admitted: 2000, priorityRate: 400}, 1600},
		{"a bulk lane taking less than the floor is not what is in the way", rate.Inf, signal{priority: true, ratio: 4, admitted: 50, priorityRate: 10}, rate.Inf},
		{"within the factor and held back: grow by a tenth", 1000, signal{priority: true, ratio: 2, admitted: 1000, priorityRate: 400}, 1101},
		{"within the factor, limit not reached: no limit", 1000, signal{priority: true, ratio: 2, admitted: 300, priorityRate: 400}, rate.Inf},
		{"within the factor and free: stays free", rate.Inf, signal{priority: true, ratio: 2, admitted: 9000, priorityRate: 400}, rate.Inf},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.next(tc.cur, tc.in); got != tc.want {
				t.Errorf("next(%v, %+v) = %v, want %v", tc.cur, tc.in, got, tc.want)
			}
		})
	}
}

func TestGovernorShare(t *testing.T) {
	t.Parallel()
	in := signal{priority: true, ratio: 4, admitted: 600, priorityRate: 400}
	for share, want := range map[float64]rate.Limit{1: 450, 2: 800} {
		g := NewGovernor(GovernorConfig{Factor: 3, Share: share})
		if got := g.next(600, in); got != want {
			t.Errorf("share %g: next = %v, want %v", share, got, want)
		}
	}
}

func TestUsualIsTheLowestRecentMedian(t *testing.T) {
	t.Parallel()
	var u usual
	if got := u.add(2 * time.Millisecond); got != 2*time.Millisecond {
		t.Fatalf("first median: usual %v, want 2ms", got)
	}
	if got := u.add(time.Millisecond); got != time.Millisecond {
		t.Fatalf("a lower median: usual %v, want 1ms", got)
	}
	for range usualTicks {
		u.add(5 * time.Millisecond)
	}
	if got := u.add(5 * time.Millisecond); got != 5*time.Millisecond {
		t.Errorf("after %d slower ticks: usual %v, want 5ms (the 1ms has aged out)", usualTicks, got)
	}
}

// settle records one priority event that took d from stored to settled.
func settle(g *Governor, d time.Duration) {
	g.Admit(accounts.Priority)(context.Background(), time.Now().Add(-d)).Settled()
}

// TestGovernorSlowsTheBulkLaneWhileThePriorityLaneIsSlowed drives the
// governor a tick at a time: a calm tick, a tick where the priority lane's
// p95 is ten times its median while the bulk lane takes 2,000 events a
// second, and a tick after the priority lane has gone quiet.
func TestGovernorSlowsTheBulkLaneWhileThePriorityLaneIsSlowed(t *testing.T) {
	t.Parallel()
	g := NewGovernor(GovernorConfig{Factor: 3, Share: 4})
	var u usual
	bulk := g.Admit(accounts.Bulk)

	for range 20 {
		settle(g, time.Millisecond)
	}
	g.step(time.Now(), &u)
	if l := g.BulkLimit(); !math.IsInf(l, 1) {
		t.Fatalf("after a calm tick the bulk limit is %v, want none", l)
	}

	for range 18 {
		settle(g, time.Millisecond)
	}
	for range 2 {
		settle(g, 10*time.Millisecond)
	}
	for range 500 { // 2,000 a second over a tick
		if a := bulk(context.Background(), time.Now()); a.Handled != nil || a.Settled != nil {
			t.Fatal("the bulk lane's admission has nothing to do once settled")
		}
	}
	g.step(time.Now(), &u)
	if l := g.BulkLimit(); l != 1500 {
		t.Fatalf("after a slowed tick the bulk limit is %v, want 1500 (a quarter off 2,000)", l)
	}

	g.step(time.Now().Add(2*priorityQuiet), &u)
	if l := g.BulkLimit(); !math.IsInf(l, 1) {
		t.Errorf("with no priority event for %v the bulk limit is %v, want none", 2*priorityQuiet, l)
	}
}

// TestGovernorIgnoresAServerClockAhead: a stage that ends before it
// starts means the server's clock is ahead of ours, and the tick is no
// signal.
func TestGovernorIgnoresAServerClockAhead(t *testing.T) {
	t.Parallel()
	g := NewGovernor(GovernorConfig{Factor: 3, Share: 4})
	var u usual
	bulk := g.Admit(accounts.Bulk)
	for range 18 {
		settle(g, -time.Millisecond)
	}
	for range 2 {
		settle(g, 10*time.Millisecond)
	}
	for range 500 {
		bulk(context.Background(), time.Now())
	}
	g.step(time.Now(), &u)
	if l := g.BulkLimit(); !math.IsInf(l, 1) {
		t.Errorf("with stored times in our future the bulk limit is %v, want none", l)
	}
}

func TestGovernorOff(t *testing.T) {
	t.Parallel()
	var none *Governor
	off := NewGovernor(GovernorConfig{})
	for _, g := range []*Governor{none, off} {
		for _, l := range accounts.Lanes {
			if g.Admit(l) != nil {
				t.Errorf("governor %p admits lane %s through a check, want none", g, l)
			}
		}
		if err := g.Run(context.Background()); err != nil {
			t.Errorf("Run of a governor that is off: %v", err)
		}
	}
	if g := NewGovernor(GovernorConfig{Factor: 3, Share: 4}); g.Admit(accounts.Standard) != nil {
		t.Error("the standard lane is admitted through a check, want none")
	}
}

// TestRunAdmitsThroughTheGovernor checks that the lanes' consumers report
// to the governor: a strategic event as a priority stage, a stable event
// as a bulk admission.
func TestRunAdmitsThroughTheGovernor(t *testing.T) {
	t.Parallel()
	b := bustest.New(t, bustest.RunServer(t, ""))
	g := NewGovernor(GovernorConfig{Factor: 3, Share: 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	handled := make(chan string, 4)
	go func() {
		done <- Run(ctx, b, accounts.DefaultTiers(), Consumer{
			Service: "test", Source: "/crossdock/test", Names: []string{"thing.done"}, Governor: g,
			Handler: func(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				handled <- d.Event.ID()
				return nil, nil
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for _, tier := range []accounts.Tier{accounts.Strategic, accounts.Stable} {
		publishThing(t, b, tier)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.stages) < 1 || g.admitted.Load() < 1 {
			return bustest.ErrNotYet
		}
		return nil
	})
	if n := g.admitted.Load(); n != 1 {
		t.Errorf("bulk admissions = %d, want 1 (the stable event)", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.stages) != 1 || g.stages[0] <= 0 {
		t.Errorf("priority stages = %v, want one positive (the strategic event)", g.stages)
	}
}
