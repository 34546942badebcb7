package hub

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/intake"
)

// filtersOf is the filter of the router's intake consumer durable.
func (h *testHub) filtersOf(durable string) ([]string, error) {
	c, err := h.bus.JetStream().Consumer(context.Background(), bus.StreamIn, durable)
	if err != nil {
		return nil, err
	}
	return c.CachedInfo().Config.FilterSubjects, nil
}

// publishOrderAs publishes an order.placed over NATS as account, with extra
// headers.
func publishOrderAs(t *testing.T, js jetstream.JetStream, account, id string, o order, header map[string]string) {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetSource("/accounts/" + account)
	ev.SetType("crossdock.order.placed.v1")
	_ = ev.SetData(event.ApplicationJSON, o.Data())
	msg := bus.Encode("xd.in."+account+".order.placed", &ev)
	for k, v := range header {
		msg.Header.Set(k, v)
	}
	if _, err := js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(account+":"+id)); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

func TestIntakeLanesFollowTiers(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	want := map[string][]string{
		"router-priority": {"xd.in.acme.>"},
		"router-standard": {"xd.in.globex.>", "xd.in.initech.>", "xd.in.wh.>"},
		"router-bulk":     {"xd.in.later.>", "xd.in.umbrella.>"},
	}
	for durable, filters := range want {
		t.Run("the "+durable+" consumer takes the intake of its lane's accounts", func(t *testing.T) {
			bustest.CheckFor(t, 10*time.Second, func() error {
				got, err := h.filtersOf(durable)
				if err != nil {
					return err
				}
				if !slices.Equal(got, filters) {
					return fmt.Errorf("filters %v, want %v", got, filters)
				}
				return nil
			})
		})
	}

	t.Run("a promoted account moves to the priority lane and its NATS orders are routed once", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, h.base+"/v1/admin/accounts/globex/tier", strings.NewReader(`{"tier":"strategic"}`))
		if status, body := h.do(req, adminToken, "application/json"); status != http.StatusOK {
			t.Fatalf("PUT tier: %d %v", status, body)
		}
		js, err := jetstream.New(h.connect("globex"))
		if err != nil {
			t.Fatal(err)
		}
		accepted := h.watch("xd.out.globex.order.accepted")
		// Published at once, while the lanes' filters change: the sweep
		// routes what a lane misses.
		for i := range 5 {
			publishOrderAs(t, js, "globex", fmt.Sprintf("lane-%d", i), order{PO: fmt.Sprintf("L-%d", i), ShipTo: globexDC, Units: []float64{1}}, nil)
		}
		for range 5 {
			next(t, accepted)
		}
		bustest.CheckFor(t, 10*time.Second, func() error {
			p, err := h.filtersOf("router-priority")
			if err != nil {
				return err
			}
			s, err := h.filtersOf("router-standard")
			if err != nil {
				return err
			}
			if !slices.Equal(p, []string{"xd.in.acme.>", "xd.in.globex.>"}) || slices.Contains(s, "xd.in.globex.>") {
				return fmt.Errorf("priority %v, standard %v: want globex moved to priority", p, s)
			}
			return nil
		})
		if n := h.count(bus.StreamOut, "xd.out.globex.order.accepted"); n != 5 {
			t.Errorf("XD_OUT holds %d globex acceptances, want 5 (each once)", n)
		}
		if n := h.count(bus.StreamRouted, "xd.routed.*.globex.>"); n != 0 {
			t.Errorf("XD_ROUTED holds %d globex events, want none (the router hands them to the orders service here)", n)
		}
	})
}

func TestIntakeSeal(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())

	t.Run("an order posted over HTTP is in XD_IN sealed and in no lane", func(t *testing.T) {
		accepted := h.watch("xd.out.acme.order.accepted")
		h.sendOrder("acme", "seal-1", order{PO: "S-1", ShipTo: dcEast, Units: []float64{1}})
		next(t, accepted)
		s, err := h.bus.JetStream().Stream(context.Background(), bus.StreamIn)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := s.GetLastMsgForSubject(context.Background(), "xd.in.acme.order.placed")
		if err != nil {
			t.Fatal(err)
		}
		if raw.Header.Get(intake.HeaderRouted) == "" {
			t.Errorf("XD_IN copy has no %s header", intake.HeaderRouted)
		}
		if n := h.count(bus.StreamRouted, "xd.routed.strategic.acme.order.placed"); n != 0 {
			t.Errorf("XD_ROUTED holds %d copies, want none: the gateway stores an event once", n)
		}
	})

	t.Run("a forged seal on a NATS publish does not skip the checks", func(t *testing.T) {
		js, err := jetstream.New(h.connect("acme"))
		if err != nil {
			t.Fatal(err)
		}
		rejected := h.watch("xd.out.acme.order.rejected")
		evRejected := h.watch("xd.out.acme.event.rejected")
		// No lines: the schema refuses it, if it is checked.
		publishOrderAs(t, js, "acme", "forged-1", order{PO: "F-1", ShipTo: dcEast}, map[string]string{intake.HeaderRouted: "AAAA"})
		select {
		case ev := <-evRejected:
			if d := dataOf(t, ev); d["rejected_id"] != "forged-1" {
				t.Errorf("event.rejected for %v, want forged-1", d["rejected_id"])
			}
		case ev := <-rejected:
			t.Errorf("the order service saw the forged order: %s", ev.Data())
		case <-time.After(10 * time.Second):
			t.Fatal("no rejection of the forged order")
		}
	})
}
