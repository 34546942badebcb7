package hub

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// Tenant isolation, tried as a hostile customer would (issue 13): each
// attack gets its clear refusal, and another account's order sent right
// after is accepted.

// publishAs publishes msg over NATS as account, with JetStream, and returns
// the ack or the error.
func (h *testHub) publishAs(account string, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	h.t.Helper()
	js, err := jetstream.New(h.connect(account))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return js.PublishMsg(ctx, msg, opts...)
}

// orderMsg is a binary-mode order.placed of account over NATS.
func orderMsg(t testing.TB, account, id string, o order) *nats.Msg {
	t.Helper()
	return bus.Encode("xd.in."+account+".order.placed", placedEvent(t, account, id, o))
}

// answers waits for the answer to the event id on ch (the events whose
// causationid is id) and returns it.
func answers(t testing.TB, ch <-chan *event.Event, id string) *event.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ev := next(t, ch)
		if bus.Extension(ev, bus.ExtCausationID) == id {
			return ev
		}
	}
	t.Fatalf("no answer to %s", id)
	return nil
}

func TestAnAccountCannotEraseAnotherAccountsEvent(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	globexAccepted := h.watch("xd.out.globex.order.accepted")
	acmeAccepted := h.watch("xd.out.acme.order.accepted")

	t.Run("over NATS, the Nats-Msg-Id of another account is ignored", func(t *testing.T) {
		// acme publishes first, naming the key globex's order G-1 would have.
		ack, err := h.publishAs("acme", orderMsg(t, "acme", "G-1", order{PO: "ACME-G1", ShipTo: dcEast, Units: []float64{1}}),
			jetstream.WithMsgID("globex:G-1"))
		if err != nil || ack.Duplicate {
			t.Fatalf("acme's publish: %+v %v", ack, err)
		}
		// It is acme's own event, stored and answered under acme's key.
		answers(t, acmeAccepted, "G-1")

		ack, err = h.publishAs("globex", orderMsg(t, "globex", "G-1", order{PO: "GLOBEX-G1", ShipTo: globexDC, Units: []float64{5}}))
		if err != nil || ack.Duplicate {
			t.Fatalf("globex's real order G-1: %+v %v, want stored", ack, err)
		}
		if data := dataOf(t, answers(t, globexAccepted, "G-1")); data["po_number"] != "GLOBEX-G1" {
			t.Errorf("globex's order.accepted is for %v, want GLOBEX-G1", data["po_number"])
		}
	})

	t.Run("over HTTP, a Nats-Msg-Id header is ignored", func(t *testing.T) {
		status, body := h.post("/v1/events", key("acme"), "application/cloudevents+json",
			orderEvent("acme", "G-2", order{PO: "ACME-G2", ShipTo: dcEast, Units: []float64{1}}), "Nats-Msg-Id", "globex:G-2")
		if status != http.StatusAccepted {
			t.Fatalf("acme's POST: %d %v", status, body)
		}
		h.sendOrder("globex", "G-2", order{PO: "GLOBEX-G2", ShipTo: globexDC, Units: []float64{5}})
		if data := dataOf(t, answers(t, globexAccepted, "G-2")); data["po_number"] != "GLOBEX-G2" {
			t.Errorf("globex's order.accepted is for %v, want GLOBEX-G2", data["po_number"])
		}
	})

	t.Run("a retry of one's own event over NATS then HTTP is one order", func(t *testing.T) {
		ack, err := h.publishAs("globex", orderMsg(t, "globex", "G-1", order{PO: "GLOBEX-G1", ShipTo: globexDC, Units: []float64{5}}))
		if err != nil || !ack.Duplicate {
			t.Errorf("globex's retry over NATS: %+v %v, want a duplicate", ack, err)
		}
		h.sendOrder("globex", "G-1", order{PO: "GLOBEX-G1", ShipTo: globexDC, Units: []float64{5}})
		if n := h.count(bus.StreamIn, "xd.in.globex.order.placed"); n != 2 { // G-1 and G-2
			t.Errorf("XD_IN holds %d of globex's orders, want 2", n)
		}
	})
}

func TestPartnerFileIDsCannotBeTakenByAnotherAccount(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	date := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	file := []byte("po_number,ship_to,requested_date,gtin,quantity\nACME-CSV-1," + dcEast + "," + date + ",00614141123452,12\n")

	// globex works out the id acme's file will make (the adapters are open
	// source) and sends an event with it first, over NATS and HTTP, naming
	// acme's key where it can.
	csv, ok := adapters.Default.Lookup("csv")
	if !ok {
		t.Fatal("no csv adapter")
	}
	evs, err := csv.Decode(adapters.Input{Data: file, Account: "acme"})
	if err != nil || len(evs) != 1 {
		t.Fatalf("decode the file as acme's: %v %v", evs, err)
	}
	predicted := evs[0].ID()
	globexRejected := h.watch("xd.out.globex.order.rejected")
	if _, err := h.publishAs("globex", orderMsg(t, "globex", predicted, order{PO: "ACME-CSV-1", ShipTo: dcEast, Units: []float64{1}}),
		jetstream.WithMsgID("acme:"+predicted)); err != nil {
		t.Fatalf("globex's publish: %v", err)
	}
	// The attacker's event is globex's own, and refused as such: acme's DC is
	// not globex's.
	if code := dataOf(t, next(t, globexRejected))["reasons"].([]any)[0].(map[string]any)["code"]; code != "unknown_ship_to" {
		t.Errorf("globex's event is refused with %v, want unknown_ship_to", code)
	}

	accepted := h.watch("xd.out.acme.order.accepted")
	status, body := h.post("/v1/ingest/csv", key("acme"), "text/csv", file)
	if status != http.StatusAccepted {
		t.Fatalf("acme's file: %d %v", status, body)
	}
	if ids := body["accepted"].([]any); len(ids) != 1 || ids[0] != predicted {
		t.Fatalf("accepted %v, want [%s]", ids, predicted)
	}
	if data := dataOf(t, answers(t, accepted, predicted)); data["po_number"] != "ACME-CSV-1" {
		t.Errorf("acme's order.accepted is for %v", data["po_number"])
	}
}

func TestOversizedAttributesAreRefusedAtTheDoor(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.globex.order.accepted")

	t.Run("a 65 KB traceparent over HTTP is 400 attribute_too_large", func(t *testing.T) {
		status, body := h.post("/v1/events", key("acme"), "application/json", hubtest.MustJSON(t, order{PO: "TP-1", ShipTo: dcEast, Units: []float64{1}}.Data()),
			"ce-specversion", "1.0", "ce-id", "tp-1", "ce-source", "/accounts/acme", "ce-type", "crossdock.order.placed.v1",
			"ce-traceparent", strings.Repeat("0", 65<<10))
		if status != http.StatusBadRequest {
			t.Fatalf("= %d %v", status, body)
		}
		if e := body["errors"].([]any)[0].(map[string]any); e["code"] != "attribute_too_large" || e["field"] != "traceparent" {
			t.Errorf("error = %v, want attribute_too_large (traceparent)", e)
		}
		h.sendOrder("globex", "after-tp", order{PO: "AFTER-TP", ShipTo: globexDC, Units: []float64{5}})
		answers(t, accepted, "after-tp")
	})

	t.Run("a 70 KB id over NATS is refused and dead-lettered", func(t *testing.T) {
		rejected := h.watch("xd.out.acme.event.rejected")
		msg := orderMsg(t, "acme", "x", order{PO: "ID-1", ShipTo: dcEast, Units: []float64{1}})
		msg.Header.Set("ce-id", strings.Repeat("x", 70<<10))
		_, err := h.publishAs("acme", msg)
		var api *jetstream.APIError
		if !errors.As(err, &api) || api.Code != 400 || !strings.HasPrefix(api.Description, "attribute_too_large: ") {
			t.Fatalf("publish = %v, want a 400 attribute_too_large refusal", err)
		}
		if e := dataOf(t, next(t, rejected))["errors"].([]any)[0].(map[string]any); e["code"] != "attribute_too_large" || e["field"] != "id" {
			t.Errorf("event.rejected error = %v", e)
		}
		if dl := h.lastDLQ(t, "xd.dlq.acme.attribute_too_large"); string(dl.Data) != string(msg.Data) {
			t.Errorf("the dead letter's body is not the original")
		}
		if _, err := h.publishAs("globex", orderMsg(t, "globex", "after-id", order{PO: "AFTER-ID", ShipTo: globexDC, Units: []float64{5}})); err != nil {
			t.Fatalf("globex's order: %v", err)
		}
		answers(t, accepted, "after-id")
	})
}

func TestAFloodIsRateLimited(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	// umbrella's quota made small: three events, then one a second.
	raiseQuota(t, path, "umbrella", "{events_per_second: 1, bytes_per_second: 0, burst_seconds: 3}")
	h := startHub(t, dir)
	var status int
	var body map[string]any
	for i := range 4 {
		status, body = h.post("/v1/events", key("umbrella"), "application/cloudevents+json",
			orderEvent("umbrella", "flood-"+string(rune('a'+i)), order{PO: "F", ShipTo: stableDC, Units: []float64{500}}))
		if status == http.StatusTooManyRequests {
			break
		}
	}
	if status != http.StatusTooManyRequests || body["errors"].([]any)[0].(map[string]any)["code"] != "rate_limited" {
		t.Fatalf("umbrella's fourth order at once: %d %v, want 429 rate_limited", status, body)
	}
	_, err := h.publishAs("umbrella", orderMsg(t, "umbrella", "flood-nats", order{PO: "F", ShipTo: stableDC, Units: []float64{500}}))
	var api *jetstream.APIError
	if !errors.As(err, &api) || api.Code != 429 || !strings.HasPrefix(api.Description, "rate_limited: ") {
		t.Errorf("umbrella's order over NATS = %v, want a 429 rate_limited refusal", err)
	}
	accepted := h.watch("xd.out.globex.order.accepted")
	h.sendOrder("globex", "after-flood", order{PO: "AFTER-FLOOD", ShipTo: globexDC, Units: []float64{5}})
	answers(t, accepted, "after-flood")
}

// raiseQuota sets an account's quota override in the accounts file at path
// (the test file gives umbrella policy: {order_days: all}).
func raiseQuota(t testing.TB, path, account, quota string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if account != "umbrella" || !strings.Contains(string(b), "policy: {order_days: all}") {
		t.Fatalf("raiseQuota knows umbrella's policy line only")
	}
	y := strings.Replace(string(b), "policy: {order_days: all}", "policy: {order_days: all, quota: "+quota+"}", 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAWarehouseEventCannotCollideWithItsAccountsEvent: a warehouse's
// shipment that happens to (or is made to) carry the id of an order of the
// account it concerns is its own event. Both were stored in the account's
// lane under <account>:<id>, so whichever came second was dropped as a
// duplicate, sealed in XD_IN and never processed; the lane key is now
// scoped by the sender (wh.<warehouse>:<id>).
func TestAWarehouseEventCannotCollideWithItsAccountsEvent(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "same-1", order{PO: "SAME-1", ShipTo: dcEast, Units: []float64{4}})
	orderID := dataOf(t, answers(t, accepted, "same-1"))["order_id"].(string)

	forwarded := h.watch("xd.out.acme.shipment.dispatched")
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", shipmentEvent("same-1", "dc-east", "acme", orderID)); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	if ev := next(t, forwarded); ev.ID() != "same-1" || ev.Source() != "/warehouses/dc-east" {
		t.Errorf("forwarded %s from %s, want the warehouse's same-1", ev.ID(), ev.Source())
	}
	for _, subject := range []string{"xd.in.acme.order.placed", "xd.in.wh.dc-east.shipment.dispatched"} {
		if n := h.count(bus.StreamIn, subject); n != 1 {
			t.Errorf("XD_IN holds %d events on %s, want 1", n, subject)
		}
	}
}
