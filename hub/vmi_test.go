package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

const vmiGTIN = "00614141123452"

// vmiDay is the as_of of the n-th day of a test's reports.
func vmiDay(n int) string {
	return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format(time.RFC3339)
}

// vmiItem is one line of an inventory report; sold < 0 leaves sold_since_last out.
func vmiItem(gtin string, onHand, sold int) map[string]any {
	it := map[string]any{"gtin": gtin, "on_hand": onHand}
	if sold >= 0 {
		it["sold_since_last"] = sold
	}
	return it
}

// vmiReportEvent is a structured-mode inventory.reported CloudEvent.
func vmiReportEvent(account, id, gln, asOf string, items ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account,
		"type": "crossdock.inventory.reported.v1", "datacontenttype": "application/json",
		"data": map[string]any{"location": gln, "as_of": asOf, "items": items},
	})
	return b
}

// vmiReport posts an inventory report and requires 202. A lane handles
// several events at once, so a test that needs two reports of one position
// applied in order waits for the first (vmiPosition) before sending the
// second: a later report applied first makes the earlier one stale.
func (h *testHub) vmiReport(account, id, gln, asOf string, items ...map[string]any) {
	h.t.Helper()
	if status, body := h.post("/v1/events", key(account), "application/cloudevents+json", vmiReportEvent(account, id, gln, asOf, items...)); status != http.StatusAccepted {
		h.t.Fatalf("post report %s: %d %v", id, status, body)
	}
}

// vmiPosition waits until the account's position at gln shows the report
// taken at asOf, and returns it.
func (h *testHub) vmiPosition(account, gln, gtin, asOf string) map[string]any {
	h.t.Helper()
	var pos map[string]any
	bustest.CheckFor(h.t, 10*time.Second, func() error {
		status, body := h.get("/v1/inventory/"+gln+"/"+gtin, key(account))
		if status != http.StatusOK || body["as_of"] != asOf {
			return fmt.Errorf("GET position: %d %v, want as_of %s", status, body, asOf)
		}
		pos = body
		return nil
	})
	return pos
}

// vmiShipment is a warehouse's shipment of a replenishment.
func vmiShipment(id, warehouse, account, replenishmentID string, qty int) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/warehouses/" + warehouse, "account": account,
		"type": "crossdock.shipment.dispatched.v1", "datacontenttype": "application/json",
		"data": map[string]any{"shipment_id": "SHP-" + id, "replenishment_id": replenishmentID,
			"lines": []map[string]any{{"gtin": vmiGTIN, "quantity": qty, "unit": "EA"}}},
	})
	return b
}

// firstCode is the code of the first error of an event.rejected or a
// problem+json answer (whose errors are per event, with their own errors or
// code).
func firstCode(t testing.TB, rejected map[string]any) any {
	t.Helper()
	errs, _ := rejected["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("rejection without errors: %v", rejected)
	}
	first := errs[0].(map[string]any)
	if inner, ok := first["errors"].([]any); ok && len(inner) > 0 {
		return inner[0].(map[string]any)["code"]
	}
	return first["code"]
}

func TestVMIContinuousReplenishmentFollowsReportsAndShipments(t *testing.T) {
	h := startHub(t, t.TempDir())
	toWarehouse := h.watch("xd.wh.dc-east.replenishment.requested")
	toCustomer := h.watch("xd.out.acme.replenishment.requested")

	// Day 0 is the first report: no demand yet. Day 1: 90 sold in a day, so
	// demand 90/day; strategic policy: lead 2 days, review 1 day, no
	// deviation yet: reorder point 180, target 270; position 10 → 260.
	h.vmiReport("acme", "inv-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 100, -1))
	h.vmiPosition("acme", dcEast, vmiGTIN, vmiDay(0))
	h.vmiReport("acme", "inv-1", dcEast, vmiDay(1), vmiItem(vmiGTIN, 10, 90))
	wh := next(t, toWarehouse)
	d := dataOf(t, wh)
	reason := d["reason"].(map[string]any)
	if d["quantity"] != 260.0 || d["location"] != dcEast || d["gtin"] != vmiGTIN || reason["reorder_point"] != 180.0 || reason["target"] != 270.0 || reason["position"] != 10.0 {
		t.Errorf("replenishment = %v, want 260 of %s at %s (position 10, reorder point 180, target 270)", d, vmiGTIN, dcEast)
	}
	if wh.Extensions()["causationid"] != "inv-1" {
		t.Errorf("causationid = %v, want inv-1", wh.Extensions()["causationid"])
	}
	cp := next(t, toCustomer)
	if dc := dataOf(t, cp); dc["replenishment_id"] != d["replenishment_id"] || cp.ID() == wh.ID() {
		t.Errorf("customer copy %s %v, want the same replenishment under its own event id", cp.ID(), dc)
	}
	rid := d["replenishment_id"].(string)

	pos := h.vmiPosition("acme", dcEast, vmiGTIN, vmiDay(1))
	if pos["on_hand"] != 10.0 || pos["open"] != 260.0 || pos["inventory_position"] != 270.0 || pos["demand"] != 90.0 || pos["reorder_point"] != 180.0 || pos["target"] != 270.0 {
		t.Errorf("position = %v", pos)
	}
	if status, body := h.get("/v1/inventory/"+dcEast+"/"+vmiGTIN, key("globex")); status != http.StatusNotFound || firstCode(t, body) != "unknown_position" {
		t.Errorf("another account's GET = %d %v, want 404 unknown_position", status, body)
	}
	if status, body := h.get("/v1/inventory/"+dcEast+"/00614141123453", key("acme")); status != http.StatusBadRequest || firstCode(t, body) != "schema_violation" {
		t.Errorf("GET with a bad GTIN = %d %v, want 400 schema_violation", status, body)
	}
	if status, _ := h.get("/v1/inventory/"+dcEast+"/"+vmiGTIN, ""); status != http.StatusUnauthorized {
		t.Errorf("GET without a key = %d, want 401", status)
	}
	// The GTIN-12 of the same item finds the same position.
	if _, body := h.get("/v1/inventory/"+dcEast+"/614141123452", key("acme")); body["gtin"] != vmiGTIN {
		t.Errorf("GET by GTIN-12 = %v, want the position of %s", body, vmiGTIN)
	}

	// Reports faster than shipments: the position has an open replenishment,
	// so a report that would trigger one asks for none.
	// A burst of them, handled in parallel by the lane's workers, too.
	for i := 2; i <= 6; i++ {
		h.vmiReport("acme", fmt.Sprintf("inv-%d", i), dcEast, vmiDay(i), vmiItem(vmiGTIN, 0, 2))
	}
	h.vmiPosition("acme", dcEast, vmiGTIN, vmiDay(6))
	if n := h.count(bus.StreamOut, "xd.wh.dc-east.replenishment.requested"); n != 1 {
		t.Errorf("%d replenishments requested, want 1 while one is open", n)
	}

	// The warehouse ships: open moves to on order, the customer gets the shipment.
	shipped := h.watch("xd.out.acme.shipment.dispatched")
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", vmiShipment("rship-1", "dc-east", "acme", rid, 260)); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	if ev := next(t, shipped); ev.ID() != "rship-1" {
		t.Errorf("forwarded %s, want rship-1", ev.ID())
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		_, p := h.get("/v1/inventory/"+dcEast+"/"+vmiGTIN, key("acme"))
		if p["open"] != 0.0 || p["in_transit"] != 260.0 || p["on_order"] != 260.0 || p["open_replenishment"] == nil {
			return fmt.Errorf("position after shipment = %v, want open 0, 260 in transit and on order", p)
		}
		return nil
	})

	// The next report shows it received (on hand rose by 250 with 10 sold): closed.
	h.vmiReport("acme", "inv-7", dcEast, vmiDay(7), vmiItem(vmiGTIN, 250, 10))
	pos = h.vmiPosition("acme", dcEast, vmiGTIN, vmiDay(7))
	if pos["in_transit"] != 0.0 || pos["open_replenishment"] != nil || pos["on_hand"] != 250.0 {
		t.Errorf("position after receipt = %v, want closed, nothing in transit", pos)
	}

	// A shipment of a replenishment the hub never asked for is refused.
	refused := h.watch("xd.wh.dc-east.event.rejected")
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", vmiShipment("rship-2", "dc-east", "acme", "no-such-replenishment", 5)); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	if code := firstCode(t, dataOf(t, next(t, refused))); code != "unknown_replenishment" {
		t.Errorf("code = %v, want unknown_replenishment", code)
	}
}

func TestVMIScheduledRunOnDemand(t *testing.T) {
	h := startHub(t, t.TempDir())
	toWarehouse := h.watch("xd.wh.dc-east.replenishment.requested")

	// globex is integrated: reports move positions but request nothing.
	h.vmiReport("globex", "g-0", globexDC, vmiDay(0), vmiItem(vmiGTIN, 100, -1), vmiItem("00614141999996", 500, -1))
	h.vmiPosition("globex", globexDC, "00614141999996", vmiDay(0))
	h.vmiReport("globex", "g-1", globexDC, vmiDay(1), vmiItem(vmiGTIN, 40, 60), vmiItem("00614141999996", 499, 1))
	h.vmiPosition("globex", globexDC, vmiGTIN, vmiDay(1))
	h.vmiPosition("globex", globexDC, "00614141999996", vmiDay(1))
	if n := h.count(bus.StreamOut, "xd.wh.>"); n != 0 {
		t.Fatalf("%d replenishments before the run, want none in scheduled mode", n)
	}

	run := func(query, token string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/admin/vmi/run?"+query, nil)
		return h.do(req, token, "")
	}
	if status, _ := run("account=globex", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("run with a wrong token: %d, want 401", status)
	}
	if status, body := run("account=initech", adminToken); status != http.StatusConflict || firstCode(t, body) != "not_in_tier_menu" {
		t.Errorf("run for an emerging account: %d %v, want 409 not_in_tier_menu", status, body)
	}
	// Demand 60/day, lead 3, review 1: reorder point 180, target 240;
	// position 40 → 200. The other item (demand 1, 499 on hand) needs none.
	status, res := run("account=globex&run=r1", adminToken)
	if status != http.StatusOK || res["evaluated"] != 2.0 || res["requested"] != 1.0 {
		t.Fatalf("run = %d %v, want 2 evaluated, 1 requested", status, res)
	}
	d := dataOf(t, next(t, toWarehouse))
	if d["quantity"] != 200.0 || d["location"] != globexDC || d["gtin"] != vmiGTIN {
		t.Errorf("replenishment = %v, want 200 of %s", d, vmiGTIN)
	}

	// The same run again requests nothing new; a new run finds it open.
	if status, res := run("account=globex&run=r1", adminToken); status != http.StatusOK || res["requested"] != 1.0 {
		t.Errorf("repeated run = %d %v", status, res)
	}
	if status, res := run("account=globex", adminToken); status != http.StatusOK || res["requested"] != 0.0 || res["open"] != 1.0 {
		t.Errorf("new run = %d %v, want the position open and nothing requested", status, res)
	}
	if n := h.count(bus.StreamOut, "xd.wh.dc-east.replenishment.requested"); n != 1 {
		t.Errorf("%d replenishments stored, want 1", n)
	}
}

func TestVMIWarehouseConsumerGetsItsBacklog(t *testing.T) {
	h := startHub(t, t.TempDir())
	// Two replenishments while no warehouse consumer exists.
	for i, gtin := range []string{vmiGTIN, "00614141999996"} {
		h.vmiReport("acme", fmt.Sprintf("b-%d-0", i), dcEast, vmiDay(0), vmiItem(gtin, 50, -1))
		h.vmiPosition("acme", dcEast, gtin, vmiDay(0))
		h.vmiReport("acme", fmt.Sprintf("b-%d-1", i), dcEast, vmiDay(1), vmiItem(gtin, 5, 45))
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if n := h.count(bus.StreamOut, "xd.wh.dc-east.replenishment.requested"); n != 2 {
			return fmt.Errorf("%d replenishments stored, want 2", n)
		}
		return nil
	})

	// The warehouse comes up and creates its durable consumer with its own
	// credentials: it gets what was sent while it was away.
	nc := h.connect("dc-east")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Another warehouse's work, or a customer's, stays out of reach.
	for _, filter := range []string{"xd.wh.dc-west.>", "xd.out.acme.>"} {
		short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
		if _, err := js.CreateOrUpdateConsumer(short, bus.StreamOut, jetstream.ConsumerConfig{
			Durable: accounts.WarehouseConsumer("dc-east"), FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
		}); err == nil {
			t.Errorf("dc-east created a consumer on %s", filter)
		}
		cancelShort()
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamOut, jetstream.ConsumerConfig{
		Durable: accounts.WarehouseConsumer("dc-east"), FilterSubject: "xd.wh.dc-east.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatalf("warehouse creates its consumer: %v", err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, dataOf(t, ev)["gtin"].(string))
		if err := m.Ack(); err != nil {
			t.Errorf("warehouse acks: %v", err)
		}
	}
	if len(got) != 2 {
		t.Errorf("backlog = %v, want both replenishments", got)
	}
}

func TestVMITierPromotionSwitchesToContinuous(t *testing.T) {
	// Before the integrated tier's 18:00 UTC cut-off, whatever the real time:
	// past it, the scheduled run would take the replenishment first.
	morning := func() time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) }
	h := startHubAt(t, t.TempDir(), morning)
	toWarehouse := h.watch("xd.wh.dc-east.replenishment.requested")
	h.vmiReport("globex", "t-0", globexDC, vmiDay(0), vmiItem(vmiGTIN, 100, -1))
	h.vmiPosition("globex", globexDC, vmiGTIN, vmiDay(0))
	h.vmiReport("globex", "t-1", globexDC, vmiDay(1), vmiItem(vmiGTIN, 40, 60))
	h.vmiPosition("globex", globexDC, vmiGTIN, vmiDay(1))
	if n := h.count(bus.StreamOut, "xd.wh.>"); n != 0 {
		t.Fatalf("%d replenishments while integrated, want none before the cutoff", n)
	}

	req, _ := http.NewRequest(http.MethodPut, h.base+"/v1/admin/accounts/globex/tier", strings.NewReader(`{"tier":"strategic"}`))
	if status, body := h.do(req, adminToken, "application/json"); status != http.StatusOK {
		t.Fatalf("PUT tier: %d %v", status, body)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, p := h.get("/v1/inventory/"+globexDC+"/"+vmiGTIN, key("globex")); p["mode"] != "continuous" {
			return fmt.Errorf("mode %v, want continuous", p["mode"])
		}
		return nil
	})
	// Strategic: the next report is evaluated at once (lead 2, review 1:
	// demand 0.8*60+0.2*50 = 58, no longer zero deviation).
	h.vmiReport("globex", "t-2", globexDC, vmiDay(2), vmiItem(vmiGTIN, 0, 50))
	ev := next(t, toWarehouse)
	if d := dataOf(t, ev); d["location"] != globexDC || d["quantity"].(float64) <= 0 || ev.Extensions()["causationid"] != "t-2" {
		t.Errorf("replenishment after promotion = %v (cause %v), want one caused by t-2", d, ev.Extensions()["causationid"])
	}
}

func TestVMIBadReportsAreRejectedWithCodes(t *testing.T) {
	h := startHub(t, t.TempDir())
	rejected := h.watch("xd.out.acme.event.rejected")
	tests := []struct {
		name   string
		item   map[string]any
		gln    string
		status int
		code   string
	}{
		{"a negative on hand is a schema violation", vmiItem(vmiGTIN, -1, -1), dcEast, http.StatusBadRequest, "schema_violation"},
		{"a GTIN with a wrong check digit is a schema violation", vmiItem("00614141123453", 5, -1), dcEast, http.StatusBadRequest, "schema_violation"},
		{"a location the account does not have is refused after intake", vmiItem(vmiGTIN, 5, -1), globexDC, http.StatusAccepted, "unknown_ship_to"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.post("/v1/events", key("acme"), "application/cloudevents+json", vmiReportEvent("acme", fmt.Sprintf("bad-%d", i), tc.gln, vmiDay(0), tc.item))
			if status != tc.status {
				t.Fatalf("status %d %v, want %d", status, body, tc.status)
			}
			if status == http.StatusAccepted {
				body = dataOf(t, next(t, rejected))
				if body["rejected_id"] != fmt.Sprintf("bad-%d", i) {
					t.Errorf("rejection of %v, want bad-%d", body["rejected_id"], i)
				}
			}
			if code := firstCode(t, body); code != tc.code {
				t.Errorf("code = %v, want %s", code, tc.code)
			}
		})
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if n := h.count(bus.StreamDLQ, "xd.dlq.acme.unknown_ship_to"); n != 1 {
			return fmt.Errorf("%d unknown_ship_to dead letters, want the original report", n)
		}
		return nil
	})

	// An emerging account has no VMI in its menu.
	refused := h.watch("xd.out.initech.event.rejected")
	if status, body := h.post("/v1/events", key("initech"), "application/cloudevents+json", vmiReportEvent("initech", "e-1", initechDC, vmiDay(0), vmiItem(vmiGTIN, 5, -1))); status != http.StatusAccepted {
		t.Fatalf("post: %d %v", status, body)
	}
	if code := firstCode(t, dataOf(t, next(t, refused))); code != "not_in_tier_menu" {
		t.Errorf("code = %v, want not_in_tier_menu", code)
	}
}

func TestVMIAgreementOverridesTheComputedLevels(t *testing.T) {
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// acme's agreement for the item: min 10, max 50, cases of 12.
	y := strings.Replace(string(b), "  - id: globex\n", "    vmi: {items: {\""+vmiGTIN+"\": {min: 10, max: 50, case_pack: 12}}}\n  - id: globex\n", 1)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, dir)
	toWarehouse := h.watch("xd.wh.dc-east.replenishment.requested")

	// No demand yet, but 4 on hand is below the min: up to 50 is 46, three
	// cases (36) because four (48) would pass the max.
	h.vmiReport("acme", "a-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 4, -1))
	d := dataOf(t, next(t, toWarehouse))
	reason := d["reason"].(map[string]any)
	if d["quantity"] != 36.0 || reason["reorder_point"] != 10.0 || reason["target"] != 50.0 {
		t.Errorf("replenishment = %v, want 36 (reorder point 10, target 50)", d)
	}
}
