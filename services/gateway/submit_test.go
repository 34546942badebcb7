package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/intake"
)

func TestIntakesMarkTheirChannel(t *testing.T) {
	s := newGatewayServer(t)
	gw := New(s.bus, s.reg, intake.NewChecker(s.reg, s.schemas, 0), nil, nil, bustest.Logger(t))
	acme := bus.Sender{Account: "acme"}

	t.Run("an event posted over HTTP is marked api, whatever channel it claims", func(t *testing.T) {
		sent := order(t, "chan-api-1")
		sent.SetExtension(bus.ExtChannel, "portal")
		if resp, body := s.post(t, keyAcme, structuredHeader, mustJSON(t, sent)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST = %d %s", resp.StatusCode, body)
		}
		if got, _ := s.last(t, subjectOrders); got.Extensions()[bus.ExtChannel] != bus.ChannelAPI {
			t.Errorf("channel = %v, want api", got.Extensions()[bus.ExtChannel])
		}
	})
	t.Run("an event submitted by the portal is stored marked portal", func(t *testing.T) {
		ids, problems, err := gw.Submit(context.Background(), acme, bus.ChannelPortal, order(t, "chan-portal-1"))
		if err != nil || len(problems) > 0 || len(ids) != 1 || ids[0] != "chan-portal-1" {
			t.Fatalf("Submit() = %v, %v, %v", ids, problems, err)
		}
		got, _ := s.last(t, subjectOrders)
		if got.ID() != "chan-portal-1" || got.Extensions()[bus.ExtChannel] != bus.ChannelPortal || bus.Account(got) != "acme" {
			t.Errorf("stored %s with channel %v account %s", got.ID(), got.Extensions()[bus.ExtChannel], bus.Account(got))
		}
	})
	t.Run("a submitted batch with one bad event stores none and names the bad one", func(t *testing.T) {
		before := s.stored(t, subjectOrders)
		ids, problems, err := gw.Submit(context.Background(), acme, bus.ChannelPortal, order(t, "chan-portal-2"), badGTIN(t, "chan-portal-3"))
		if err != nil || ids != nil || len(problems) != 1 || problems[0].Code != bus.CodeSchemaViolation || problems[0].ID != "chan-portal-3" {
			t.Fatalf("Submit() = %v, %+v, %v; want one schema_violation of chan-portal-3", ids, problems, err)
		}
		if after := s.stored(t, subjectOrders); after != before {
			t.Errorf("%d events stored, want none", after-before)
		}
	})
	t.Run("an event submitted for another account is refused", func(t *testing.T) {
		ev := order(t, "chan-portal-4")
		ev.SetExtension(bus.ExtAccount, "globex")
		_, problems, err := gw.Submit(context.Background(), acme, bus.ChannelPortal, ev)
		if err != nil || len(problems) != 1 || problems[0].Code != bus.CodeAccountMismatch {
			t.Errorf("Submit(globex's event as acme) = %+v, %v; want account_mismatch", problems, err)
		}
	})
}
