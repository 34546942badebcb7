package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
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

// firstCode is the code of the first error of an event.rejected or a
// problem+json answer.
func firstCode(t testing.TB, body map[string]any) any {
	t.Helper()
	return hubtest.FirstCode(t, body)
}

func TestVMIWarehouseConsumerGetsItsBacklog(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
