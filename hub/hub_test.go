package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

func TestOrdersAreServedByTier(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	tests := []struct {
		name    string
		account string
		order   order
		lane    string // the router's intake lane that takes it
		answer  string // event name the customer gets
		codes   []string
	}{
		{name: "a strategic order to a store is accepted", account: "acme",
			order: order{PO: "A-1", ShipTo: acmeStore, Units: []float64{2}, Pickup: "factory"}, lane: "priority", answer: "order.accepted"},
		{name: "an integrated order is accepted", account: "globex",
			order: order{PO: "G-1", ShipTo: globexDC, Units: []float64{1}}, lane: "standard", answer: "order.accepted"},
		{name: "an emerging order asking for factory pickup is rejected", account: "initech",
			order: order{PO: "I-1", ShipTo: initechDC, Units: []float64{1}, Pickup: "factory"}, lane: "standard", answer: "order.rejected", codes: []string{"not_in_tier_menu"}},
		{name: "a stable order of 100 units to its DC a month ahead is accepted", account: "umbrella",
			order: order{PO: "U-1", ShipTo: stableDC, Units: []float64{60, 40}}, lane: "bulk", answer: "order.accepted"},
		{name: "a small stable order to a store breaks two rules", account: "umbrella",
			order: order{PO: "U-2", ShipTo: stableShop, Units: []float64{10}}, lane: "bulk", answer: "order.rejected", codes: []string{"ship_to_not_dc", "below_minimum_order"}},
		{name: "a stable order outside its ordering days is held", account: "later",
			order: order{PO: "L-1", ShipTo: heldDC, Units: []float64{100}}, lane: "bulk", answer: "order.held"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			answers := h.watch("xd.out." + tc.account + "." + tc.answer)
			id := fmt.Sprintf("tier-%d", i)
			h.sendOrder(tc.account, id, tc.order)

			ans := next(t, answers)
			if got := ans.Extensions()[bus.ExtCausationID]; got != id {
				t.Errorf("%s causationid = %v, want %s", tc.answer, got, id)
			}
			data := dataOf(t, ans)
			var codes []string
			if reasons, ok := data["reasons"].([]any); ok {
				for _, r := range reasons {
					codes = append(codes, r.(map[string]any)["code"].(string))
				}
			}
			if !slices.Equal(codes, tc.codes) {
				t.Errorf("reason codes = %v, want %v", codes, tc.codes)
			}
			if lane := h.laneOf(t, "xd.in."+tc.account+".order.placed"); lane != tc.lane {
				t.Errorf("taken in the %s lane, want %s", lane, tc.lane)
			}
			status, got := h.get("/v1/orders/"+tc.order.PO, key(tc.account))
			if status != http.StatusOK {
				t.Fatalf("GET order: %d %v", status, got)
			}
			if want := strings.TrimPrefix(tc.answer, "order."); got["state"] != want {
				t.Errorf("order state = %v, want %s", got["state"], want)
			}
		})
	}
}

// TestRoutedLanesFollowTiers checks the subject each tier's events take and
// that the order service answers on them: the lane consumers filter by tier.
func TestAcceptedOrderReachesTheWarehouse(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	fulfil := h.watch("xd.wh.dc-west.fulfillment.requested")
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "wh-1", order{PO: "A-100", ShipTo: acmeStore, Units: []float64{3, 4}})

	acc := dataOf(t, next(t, accepted))
	f := next(t, fulfil)
	fd := dataOf(t, f)
	if acc["warehouse"] != "dc-west" || fd["order_id"] != acc["order_id"] || fd["account"] != "acme" || fd["po_number"] != "A-100" {
		t.Errorf("accepted %v, fulfilment %v: want warehouse dc-west and the same order_id", acc, fd)
	}
	if got := f.Extensions()[bus.ExtCausationID]; got != "wh-1" {
		t.Errorf("fulfilment causationid = %v, want wh-1", got)
	}
}

func TestRetriedEventIsOneOrder(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	for range 3 {
		h.sendOrder("acme", "retry-1", order{PO: "R-1", ShipTo: dcEast, Units: []float64{1}})
	}
	next(t, accepted)
	// A second placement with a new id but the same PO is a duplicate.
	rejected := h.watch("xd.out.acme.order.rejected")
	h.sendOrder("acme", "retry-2", order{PO: "R-1", ShipTo: dcEast, Units: []float64{1}})
	rej := dataOf(t, next(t, rejected))
	if code := rej["reasons"].([]any)[0].(map[string]any)["code"]; code != "duplicate" {
		t.Errorf("second placement of PO R-1: code %v, want duplicate", code)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if n := h.count(bus.StreamDLQ, "xd.dlq.acme.duplicate"); n != 1 {
			return fmt.Errorf("%d duplicates dead-lettered, want 1", n)
		}
		return nil
	})
	if n := h.count(bus.StreamIn, "xd.in.acme.order.placed"); n != 2 {
		t.Errorf("XD_IN holds %d placements, want 2 (the retries are one)", n)
	}
	if n := h.count(bus.StreamOut, "xd.out.acme.order.accepted"); n != 1 {
		t.Errorf("XD_OUT holds %d acceptances, want 1", n)
	}
}

func TestOrdersAreVisibleToTheirAccountOnly(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "mine-1", order{PO: "SECRET-1", ShipTo: dcEast, Units: []float64{1}})
	next(t, accepted)
	if status, _ := h.get("/v1/orders/SECRET-1", key("globex")); status != http.StatusNotFound {
		t.Errorf("globex reading acme's PO: %d, want 404", status)
	}
	if status, _ := h.get("/v1/orders/SECRET-1", ""); status != http.StatusUnauthorized {
		t.Errorf("reading a PO without a key: %d, want 401", status)
	}
	if status, o := h.get("/v1/orders/SECRET-1", key("acme")); status != http.StatusOK || o["account"] != "acme" {
		t.Errorf("acme reading its PO: %d %v", status, o)
	}
}

func TestNATSIntake(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	nc := h.connect("acme")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("a binary-mode order published to NATS is accepted", func(t *testing.T) {
		accepted := h.watch("xd.out.acme.order.accepted")
		ev := event.New()
		ev.SetID("nats-1")
		ev.SetSource("/accounts/acme")
		ev.SetType("crossdock.order.placed.v1")
		_ = ev.SetData(event.ApplicationJSON, order{PO: "N-1", ShipTo: dcEast, Units: []float64{5}}.Data())
		if _, err := js.PublishMsg(ctx, bus.Encode("xd.in.acme.order.placed", &ev), jetstream.WithMsgID("acme:nats-1")); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if got := next(t, accepted); got.Extensions()[bus.ExtCausationID] != "nats-1" {
			t.Errorf("accepted answers %v, want nats-1", got.Extensions()[bus.ExtCausationID])
		}
	})

	t.Run("a structured-mode order without datacontenttype is read as JSON", func(t *testing.T) {
		accepted := h.watch("xd.out.acme.order.accepted")
		data, _ := json.Marshal(order{PO: "N-2", ShipTo: dcEast, Units: []float64{5}}.Data())
		body := []byte(`{"specversion":"1.0","id":"nats-2","source":"/accounts/acme","type":"crossdock.order.placed.v1","data":` + string(data) + `}`)
		if _, err := js.Publish(ctx, "xd.in.acme.order.placed", body); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if got := next(t, accepted); got.Extensions()[bus.ExtCausationID] != "nats-2" {
			t.Errorf("accepted answers %v, want nats-2", got.Extensions()[bus.ExtCausationID])
		}
	})

	t.Run("an invalid event is answered and dead-lettered with its bytes", func(t *testing.T) {
		rejected := h.watch("xd.out.acme.event.rejected")
		body := []byte(`{"specversion":"1.0","id":"bad-1","source":"/accounts/acme","type":"crossdock.order.placed.v1",` +
			`"datacontenttype":"application/json","data":{"po_number":"B-1"}}`)
		msg := &nats.Msg{Subject: "xd.in.acme.order.placed", Header: nats.Header{"Content-Type": {"application/cloudevents+json"}}, Data: body}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
		rej := dataOf(t, next(t, rejected))
		if rej["rejected_id"] != "bad-1" {
			t.Errorf("rejected_id = %v, want bad-1", rej["rejected_id"])
		}
		errs := rej["errors"].([]any)
		if first := errs[0].(map[string]any); first["code"] != "schema_violation" || !strings.HasPrefix(first["field"].(string), "data.") {
			t.Errorf("first error = %v, want a schema_violation naming a data field", first)
		}
		dl := h.lastDLQ(t, "xd.dlq.acme.schema_violation")
		if string(dl.Data) != string(body) {
			t.Errorf("DLQ body = %s, want the original %s", dl.Data, body)
		}
		if dl.Header.Get(bus.HeaderDLQSubject) != "xd.in.acme.order.placed" {
			t.Errorf("DLQ subject header = %q", dl.Header.Get(bus.HeaderDLQSubject))
		}
	})

	t.Run("an event claiming another account is refused", func(t *testing.T) {
		rejected := h.watch("xd.out.acme.event.rejected")
		ev := event.New()
		ev.SetID("claim-1")
		ev.SetSource("/accounts/acme")
		ev.SetType("crossdock.order.placed.v1")
		ev.SetExtension(bus.ExtAccount, "globex")
		_ = ev.SetData(event.ApplicationJSON, order{PO: "C-1", ShipTo: dcEast, Units: []float64{5}}.Data())
		if _, err := js.PublishMsg(ctx, bus.Encode("xd.in.acme.order.placed", &ev)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		rej := dataOf(t, next(t, rejected))
		if code := rej["errors"].([]any)[0].(map[string]any)["code"]; code != "account_mismatch" {
			t.Errorf("code = %v, want account_mismatch", code)
		}
	})

	t.Run("an inventory report from a stable account is not in its menu", func(t *testing.T) {
		unc := h.connect("umbrella")
		rejected := h.watch("xd.out.umbrella.event.rejected")
		ev := event.New()
		ev.SetID("inv-1")
		ev.SetSource("/accounts/umbrella")
		ev.SetType("crossdock.inventory.reported.v1")
		_ = ev.SetData(event.ApplicationJSON, map[string]any{"location": stableDC, "as_of": time.Now().UTC().Format(time.RFC3339),
			"items": []map[string]any{{"gtin": "00614141123452", "on_hand": 5}}})
		if err := unc.PublishMsg(bus.Encode("xd.in.umbrella.inventory.reported", &ev)); err != nil {
			t.Fatalf("publish: %v", err)
		}
		rej := dataOf(t, next(t, rejected))
		if code := rej["errors"].([]any)[0].(map[string]any)["code"]; code != "not_in_tier_menu" {
			t.Errorf("code = %v, want not_in_tier_menu", code)
		}
		h.lastDLQ(t, "xd.dlq.umbrella.not_in_tier_menu")
	})

	t.Run("an account cannot publish or listen as another", func(t *testing.T) {
		errs := make(chan error, 4)
		nc2, err := nats.Connect(h.NATSURL(), nats.UserInfo("acme", key("acme")), nats.CustomInboxPrefix("_INBOX_acme"),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc2.Close()
		_ = nc2.Publish("xd.in.globex.order.placed", []byte("{}"))
		if err := <-errs; !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("publish as globex: %v, want a permissions violation", err)
		}
		_, _ = nc2.SubscribeSync("xd.out.globex.>")
		if err := <-errs; !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("subscribe to globex: %v, want a permissions violation", err)
		}
		if _, err := nats.Connect(h.NATSURL(), nats.UserInfo("acme", "wrong")); err == nil {
			t.Error("a wrong key connected")
		}

		// The hub's answers carry the reply subject of its JetStream publish;
		// a customer must not be able to forge the ack on it.
		sub, err := nc2.SubscribeSync("xd.out.acme.>")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc2.Flush(); err != nil {
			t.Fatal(err)
		}
		h.sendOrder("acme", "perm-1", order{PO: "PERM-1", ShipTo: dcEast, Units: []float64{1}})
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if m.Reply == "" {
			t.Fatal("the hub's answer carries no reply subject: this check needs revisiting")
		}
		_ = nc2.Publish(m.Reply, []byte(`{"stream":"XD_OUT","seq":1}`))
		if err := <-errs; !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("answer a reply subject: %v, want a permissions violation", err)
		}
	})
}

// lastDLQ returns the last dead letter on subject, waiting for it.
func (h *testHub) lastDLQ(t *testing.T, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := h.bus.JetStream().Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	bustest.CheckFor(t, 10*time.Second, func() error {
		msg, err = s.GetLastMsgForSubject(context.Background(), subject)
		return err
	})
	return msg
}

func TestTierPromotionChangesTheLaneOfTheNextEvent(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.globex.order.accepted")
	changed := h.watch("xd.out.globex.account.tier.changed")

	h.sendOrder("globex", "p-1", order{PO: "P-1", ShipTo: globexDC, Units: []float64{1}})
	next(t, accepted)
	if lane := h.laneOf(t, "xd.in.globex.order.placed"); lane != "standard" {
		t.Fatalf("p-1 taken in the %s lane, want standard", lane)
	}

	req, _ := http.NewRequest(http.MethodPut, h.base+"/v1/admin/accounts/globex/tier", strings.NewReader(`{"tier":"strategic"}`))
	if status, body := h.do(req, adminToken, "application/json"); status != http.StatusOK {
		t.Fatalf("PUT tier: %d %v", status, body)
	}
	if d := dataOf(t, next(t, changed)); d["from"] != "integrated" || d["to"] != "strategic" {
		t.Errorf("tier.changed = %v, want integrated → strategic", d)
	}

	// The standard lane gives globex up once it has nothing of globex's
	// left; until then it would be given p-2 too.
	bustest.CheckFor(t, 10*time.Second, func() error {
		f, err := h.filtersOf("router-standard")
		if err == nil && slices.Contains(f, "xd.in.globex.>") {
			err = fmt.Errorf("router-standard still takes globex: %v", f)
		}
		return err
	})
	h.sendOrder("globex", "p-2", order{PO: "P-2", ShipTo: globexDC, Units: []float64{1}})
	if ev := next(t, accepted); ev.Extensions()[bus.ExtCausationID] != "p-2" {
		t.Errorf("accepted %v, want p-2", ev.Extensions()[bus.ExtCausationID])
	}
	if lane := h.laneOf(t, "xd.in.globex.order.placed"); lane != "priority" {
		t.Errorf("p-2 taken in the %s lane after the promotion, want priority", lane)
	}
}

func TestReloadingTheAccountsFileChangesTiers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHub(t, dir)
	changed := h.watch("xd.out.initech.account.tier.changed")

	writeAccounts(t, dir, map[string]string{"initech": "integrated"})
	if err := h.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d := dataOf(t, next(t, changed)); d["from"] != "emerging" || d["to"] != "integrated" {
		t.Errorf("tier.changed = %v, want emerging → integrated", d)
	}

	if err := os.WriteFile(h.cfg.Accounts, []byte("accounts: [{id: initech, tier: gold}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background()); err == nil {
		t.Fatal("reloading a broken file succeeded")
	}
	if e, ok := h.registry.Account("initech"); !ok || e.Account.Tier != "integrated" {
		t.Errorf("after a broken reload initech is %v, want integrated kept", e)
	}
}

func TestShipmentsMoveOrdersAndReachTheCustomer(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "s-1", order{PO: "S-1", ShipTo: dcEast, Units: []float64{4}})
	orderID := dataOf(t, next(t, accepted))["order_id"].(string)

	shipment := func(id, warehouse, orderID string) []byte { return shipmentEvent(id, warehouse, "acme", orderID) }
	forwarded := h.watch("xd.out.acme.shipment.dispatched")
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", shipment("ship-1", "dc-east", orderID)); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	if ev := next(t, forwarded); ev.ID() != "ship-1" || ev.Source() != "/warehouses/dc-east" {
		t.Errorf("forwarded %s from %s, want ship-1 unchanged from /warehouses/dc-east", ev.ID(), ev.Source())
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, o := h.get("/v1/orders/S-1", key("acme")); o["state"] != "shipped" {
			return fmt.Errorf("order state %v, want shipped", o["state"])
		}
		return nil
	})

	// dc-west does not serve this order: its shipment is refused, to dc-west.
	refused := h.watch("xd.wh.dc-west.event.rejected")
	if status, body := h.post("/v1/events", key("dc-west"), "application/cloudevents+json", shipment("ship-2", "dc-west", orderID)); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	rej := dataOf(t, next(t, refused))
	if code := rej["errors"].([]any)[0].(map[string]any)["code"]; code != "unknown_order" {
		t.Errorf("code = %v, want unknown_order", code)
	}
}

func TestHeldOrderIsAcceptedOnItsOrderingDay(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	held := h.watch("xd.out.later.order.held")
	accepted := h.watch("xd.out.later.order.accepted")
	fulfil := h.watch("xd.wh.dc-west.fulfillment.requested")
	h.sendOrder("later", "h-1", order{PO: "H-1", ShipTo: heldDC, Units: []float64{300}})

	d := dataOf(t, next(t, held))
	releaseAt, err := time.Parse(time.RFC3339, d["release_at"].(string))
	if err != nil {
		t.Fatalf("release_at %v: %v", d["release_at"], err)
	}
	if !strings.HasPrefix(d["reason"].(string), "outside_order_window") {
		t.Errorf("reason = %q, want it to start with outside_order_window", d["reason"])
	}
	if err := h.orders.ReleaseDue(context.Background(), releaseAt.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, o := h.get("/v1/orders/H-1", key("later")); o["state"] != "held" {
		t.Fatalf("before its day the order is %v, want held", o["state"])
	}
	if err := h.orders.ReleaseDue(context.Background(), releaseAt); err != nil {
		t.Fatal(err)
	}
	if got := next(t, accepted); got.Extensions()[bus.ExtCausationID] != "h-1" {
		t.Errorf("accepted answers %v, want h-1", got.Extensions()[bus.ExtCausationID])
	}
	next(t, fulfil)
	if _, o := h.get("/v1/orders/H-1", key("later")); o["state"] != "accepted" || len(o["history"].([]any)) != 2 {
		t.Errorf("after release: %v, want accepted with two history entries", o)
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "m-1", order{PO: "M-1", ShipTo: dcEast, Units: []float64{1}})
	next(t, accepted)
	bustest.CheckFor(t, 10*time.Second, func() error {
		resp, err := http.Get(h.base + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`crossdock_http_request_seconds_count{code="202",route="POST /v1/events"} 1`,
			`crossdock_messages_total{consumer="router",outcome="acked"} 1`,
			`crossdock_messages_total{consumer="router-priority",outcome="acked"} 1`,
		} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("metrics lack %s", want)
			}
		}
		return nil
	})
}
