package ops

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

func TestRedriveAllRedrivesTheFilteredSetOnly(t *testing.T) {
	h := newHook(t)
	h.refuse.Store(true)
	e := newEnv(t, h, "embedded")
	e.publish("xd.out.acme.order.accepted", "a-1")
	e.publish("xd.out.acme.order.held", "a-2")
	bustest.CheckFor(t, 10*time.Second, func() error {
		dls, err := e.ops.List(context.Background(), Filter{Account: "acme"})
		if err != nil || len(dls) != 2 {
			return fmt.Errorf("%d dead letters (%v), want 2", len(dls), err)
		}
		return nil
	})
	h.refuse.Store(false)
	rep, err := e.ops.RedriveAll(context.Background(), Filter{Account: "acme", Code: bus.CodeDeliveryFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Redriven) != 2 || len(rep.Failed) != 0 {
		t.Fatalf("RedriveAll = %+v, want two redriven", rep)
	}
	if got := h.got(); !slices.Equal(got, []string{"a-1", "a-2"}) {
		t.Errorf("hook got %v, want a-1 then a-2", got)
	}
	if rep, _ := e.ops.RedriveAll(context.Background(), Filter{Account: "acme"}); len(rep.Redriven)+len(rep.Failed) != 0 {
		t.Errorf("a second RedriveAll did %+v, want nothing", rep)
	}
}

func TestAReplayJobReportsItsProgress(t *testing.T) {
	h := newHook(t)
	e := newEnv(t, nil, "embedded")
	y := fmt.Sprintf("warehouses: []\naccounts:\n  - {id: acme, name: ACME, tier: strategic, api_keys: [], locations: [], webhook: {url: %q, secret: secret}}\n", h.srv.URL)
	accountstest.Registry(t, e.bus, y)
	start := time.Now().Add(-time.Second)
	for i := range 5 {
		e.publish("xd.out.acme.order.accepted", fmt.Sprintf("j-%d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := NewReplays(ctx, e.ops)
	t.Cleanup(func() { cancel(); rs.Wait() })
	job, err := rs.Start(ReplayRequest{Account: "acme", Since: start})
	if err != nil {
		t.Fatal(err)
	}
	if job.Total != 5 || job.State != "running" {
		t.Errorf("started job %+v, want 5 events to go, running", job)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		j, _ := rs.Get(job.ID)
		if j.State != "done" {
			return fmt.Errorf("job %+v", j)
		}
		return nil
	})
	if j, _ := rs.Get(job.ID); j.Sent != 5 || len(h.got()) != 5 {
		t.Errorf("job %+v, hook got %v; want 5 sent", j, h.got())
	}
	if _, err := rs.Start(ReplayRequest{Account: "nobody", Since: start}); err == nil {
		t.Error("a replay for an unknown account started")
	}
	if l := rs.List(); len(l) != 1 || l[0].ID != job.ID {
		t.Errorf("List = %+v, want the one job", l)
	}
}
