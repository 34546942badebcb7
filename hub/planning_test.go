package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/planning"
)

// planClock is a test's settable clock for the planning service.
type planClock struct{ t atomic.Int64 }

func (c *planClock) set(t time.Time)      { c.t.Store(t.UnixNano()) }
func (c *planClock) now() time.Time       { return time.Unix(0, c.t.Load()).UTC() }
func newPlanClock(t time.Time) *planClock { c := &planClock{}; c.set(t); return c }

// wednesdayW10 is in ISO week 2026-W10 (Monday 2 March to Sunday 8 March).
var wednesdayW10 = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// startPlanningHub starts a hub whose planning clock is clock, with the
// accounts' tiers overridden by tiers.
func startPlanningHub(t *testing.T, clock *planClock, tiers map[string]string) *testHub {
	t.Helper()
	dir := t.TempDir()
	writeAccounts(t, dir, tiers)
	return startConfig(t, Config{
		HTTP: "127.0.0.1:0", NATSListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"), Accounts: filepath.Join(dir, "accounts.yaml"),
		Services: []string{"all"}, AdminToken: adminToken, Replicas: 1, Fsync: "interval", Now: clock.now,
	})
}

// bucket is one week of a forecast line.
type bucket struct {
	week string
	qty  int
}

// forecastLine is one location and item of a forecast.
func forecastLine(gln string, weeks ...bucket) map[string]any {
	var ws []map[string]any
	for _, b := range weeks {
		ws = append(ws, map[string]any{"week": b.week, "quantity": b.qty})
	}
	return map[string]any{"location": gln, "gtin": vmiGTIN, "weeks": ws}
}

// forecastEvent is a structured-mode forecast.shared CloudEvent.
func forecastEvent(account, id string, version int, lines ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account,
		"type": "crossdock.forecast.shared.v1", "datacontenttype": "application/json",
		"data": map[string]any{"forecast_id": "FC-" + account, "version": version, "lines": lines},
	})
	return b
}

// sendForecast posts a forecast and requires 202.
func (h *testHub) sendForecast(account, id string, version int, lines ...map[string]any) {
	h.t.Helper()
	if status, body := h.post("/v1/events", key(account), "application/cloudevents+json", forecastEvent(account, id, version, lines...)); status != http.StatusAccepted {
		h.t.Fatalf("post forecast %s: %d %v", id, status, body)
	}
}

// planned waits until the planning service's priority lane has nothing
// pending or unacknowledged. The server counts a consumer's pending messages
// a moment after it stores them, so a test that needs one event handled
// waits for its effect instead (sawReport, knowsItem, the events it makes).
func (h *testHub) planned() {
	h.t.Helper()
	h.settled(bus.StreamRouted, "planning-priority")
}

// planKV reads a key of the planning bucket into v; false when absent.
func (h *testHub) planKV(key string, v any) bool {
	h.t.Helper()
	kv, err := h.bus.JetStream().KeyValue(context.Background(), planning.Bucket)
	if err != nil {
		return false
	}
	e, err := kv.Get(context.Background(), key)
	if err != nil {
		return false
	}
	if v != nil {
		if err := json.Unmarshal(e.Value(), v); err != nil {
			h.t.Fatalf("%s: %v", key, err)
		}
	}
	return true
}

// sawReport waits until the planning service has counted report id for the
// item at gln.
func (h *testHub) sawReport(account, gln, gtin, id string) {
	h.t.Helper()
	bustest.CheckFor(h.t, 10*time.Second, func() error {
		var a planning.Actuals
		if h.planKV("act."+account+"."+gln+"."+gtin, &a) && slices.Contains(a.Reports, id) {
			return nil
		}
		return fmt.Errorf("planning has not counted report %s of %s at %s", id, gtin, gln)
	})
}

// knowsItem waits until the planning service knows gtin as the account's.
func (h *testHub) knowsItem(account, gtin string) {
	h.t.Helper()
	bustest.CheckFor(h.t, 10*time.Second, func() error {
		if h.planKV("item."+account+"."+gtin, nil) {
			return nil
		}
		return fmt.Errorf("planning does not know %s as %s's item", gtin, account)
	})
}

// hasForecast waits until the forecast in force of vmiGTIN at gln gives week
// want (as units@vVersion).
func (h *testHub) hasForecast(account, gln, week, want string) {
	h.t.Helper()
	bustest.CheckFor(h.t, 10*time.Second, func() error {
		if got := weeksOf(h.forecastInForce(account, gln))[week]; got != want {
			return fmt.Errorf("%s at %s = %q, want %q", week, gln, got, want)
		}
		return nil
	})
}

// forecastInForce reads the forecast in force of vmiGTIN at gln.
func (h *testHub) forecastInForce(account, gln string) *planning.Forecast {
	h.t.Helper()
	st, err := planning.OpenStore(context.Background(), h.bus)
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := st.Forecast(context.Background(), account, gln, vmiGTIN)
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func weeksOf(f *planning.Forecast) map[string]string {
	out := map[string]string{}
	if f == nil {
		return out
	}
	for w, q := range f.Weeks {
		out[string(w)] = fmt.Sprintf("%d@v%d", q.Units, q.Version)
	}
	return out
}

func TestAForecastOverHTTPIsReplacedByANewerVersionAndNotByAnOlderOne(t *testing.T) {
	t.Parallel()
	h := startPlanningHub(t, newPlanClock(wednesdayW10), nil)
	toWarehouse := h.watch("xd.wh.dc-east.forecast.shared")

	// The item becomes acme's by its first report.
	h.vmiReport("acme", "fc-inv-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 500, -1))
	h.knowsItem("acme", vmiGTIN)

	h.sendForecast("acme", "fc-v2", 2, forecastLine(dcEast, bucket{"2026-W10", 70}, bucket{"2026-W11", 140}, bucket{"2026-W12", 210}))
	first := next(t, toWarehouse)
	d := dataOf(t, first)
	if d["version"] != 2.0 || len(d["lines"].([]any)) != 1 || first.Extensions()[bus.ExtCausationID] != "fc-v2" {
		t.Errorf("the warehouse got %v (causation %v), want version 2 of one line answering fc-v2", d, first.Extensions()[bus.ExtCausationID])
	}

	h.sendForecast("acme", "fc-v3", 3, forecastLine(dcEast, bucket{"2026-W11", 280}))
	d = dataOf(t, next(t, toWarehouse))
	if weeks := d["lines"].([]any)[0].(map[string]any)["weeks"].([]any); d["version"] != 3.0 || len(weeks) != 1 {
		t.Errorf("the warehouse got %v, want version 3 with its one week", d)
	}

	// Version 1 arrives late: it changes nothing, and nobody hears of it.
	h.sendForecast("acme", "fc-v1", 1, forecastLine(dcEast, bucket{"2026-W11", 999}, bucket{"2026-W13", 50}))
	h.planned()
	want := map[string]string{"2026-W10": "70@v2", "2026-W11": "280@v3", "2026-W12": "210@v2"}
	if got := weeksOf(h.forecastInForce("acme", dcEast)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("forecast in force = %v, want %v", got, want)
	}
	if n := h.count(bus.StreamOut, "xd.wh.dc-east.forecast.shared"); n != 2 {
		t.Errorf("the warehouse got %d forecasts, want 2 (the late version 1 is not news)", n)
	}
	// acme's store is served by dc-west: no line of it, nothing for dc-west.
	if n := h.count(bus.StreamOut, "xd.wh.dc-west.forecast.shared"); n != 0 {
		t.Errorf("dc-west got %d forecasts for a location it does not serve", n)
	}
}

func TestABadForecastIsRefusedWithItsCodesAndDeadLettered(t *testing.T) {
	t.Parallel()
	h := startPlanningHub(t, newPlanClock(wednesdayW10), nil)
	h.vmiReport("acme", "bad-inv-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 500, -1))
	h.knowsItem("acme", vmiGTIN)

	t.Run("a stable account's forecast is not on its menu", func(t *testing.T) {
		rejected := h.watch("xd.out.umbrella.event.rejected")
		if status, body := h.post("/v1/events", key("umbrella"), "application/cloudevents+json",
			forecastEvent("umbrella", "stable-fc", 1, forecastLine(stableDC, bucket{"2026-W11", 10}))); status != http.StatusAccepted && status != http.StatusBadRequest {
			t.Fatalf("post: %d %v", status, body)
		} else if status == http.StatusBadRequest {
			if code := firstCode(t, body); code != "not_in_tier_menu" {
				t.Errorf("code = %v, want not_in_tier_menu", code)
			}
			return
		}
		if code := firstCode(t, dataOf(t, next(t, rejected))); code != "not_in_tier_menu" {
			t.Errorf("code = %v, want not_in_tier_menu", code)
		}
		h.lastDLQ(t, "xd.dlq.umbrella.not_in_tier_menu")
	})

	t.Run("over NATS, a past week, another account's location and an unknown item are each named", func(t *testing.T) {
		js, err := jetstream.New(h.connect("acme"))
		if err != nil {
			t.Fatal(err)
		}
		rejected := h.watch("xd.out.acme.event.rejected")
		other := forecastLine(globexDC, bucket{"2026-W11", 10})
		unknown := forecastLine(acmeStore, bucket{"2026-W11", 10})
		unknown["gtin"] = "95012346" // a valid GTIN-8 acme never reported
		body := forecastEvent("acme", "nats-bad-fc", 1, forecastLine(dcEast, bucket{"2026-W09", 10}, bucket{"2026-W11", 10}), other, unknown)
		if _, err := js.Publish(context.Background(), "xd.in.acme.forecast.shared", body); err != nil {
			t.Fatalf("publish: %v", err)
		}
		rej := dataOf(t, next(t, rejected))
		var got []string
		for _, e := range rej["errors"].([]any) {
			m := e.(map[string]any)
			got = append(got, m["code"].(string)+" "+m["field"].(string))
		}
		want := []string{"week_past data.lines[0].weeks[0].week", "unknown_ship_to data.lines[1].location", "unknown_item data.lines[2].gtin"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
		if dl := h.lastDLQ(t, "xd.dlq.acme.week_past"); dl.Header.Get("ce-id") != "nats-bad-fc" {
			t.Errorf("the dead letter is event %q, want nats-bad-fc", dl.Header.Get("ce-id"))
		}
		if f := h.forecastInForce("acme", dcEast); f != nil {
			t.Errorf("a refused forecast was stored: %v", weeksOf(f))
		}
	})
}

func TestAForecastDrivesReplenishmentToAHandComputedTarget(t *testing.T) {
	t.Parallel()
	h := startPlanningHub(t, newPlanClock(wednesdayW10), nil)
	toWarehouse := h.watch("xd.wh.dc-east.replenishment.requested")
	forecasts := h.watch("xd.wh.dc-east.forecast.shared")

	h.vmiReport("acme", "drv-inv-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 500, -1))
	h.vmiPosition("acme", dcEast, vmiGTIN, vmiDay(0))
	h.knowsItem("acme", vmiGTIN)
	h.sendForecast("acme", "drv-fc-1", 1, forecastLine(dcEast, bucket{"2026-W10", 140}, bucket{"2026-W11", 280}))
	next(t, forecasts)

	// Saturday 7 March 00:00: two days left of 2026-W10 at 20 a day, then
	// 2026-W11 at 40 a day. Strategic policy: lead 2 days, review 1 day,
	// safety 2 days. Demand over the lead time 2 x 20 = 40, safety stock
	// 2 x 40/2 = 40, reorder point 80; over lead and review 40 + 40 = 80,
	// target 120. Position 30: 90 units, by the forecast rule.
	sat := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)
	h.vmiReport("acme", "drv-inv-1", dcEast, sat, vmiItem(vmiGTIN, 30, 470))
	d := dataOf(t, next(t, toWarehouse))
	reason := d["reason"].(map[string]any)
	if d["quantity"] != 90.0 || reason["reorder_point"] != 80.0 || reason["target"] != 120.0 || reason["rule"] != "forecast" || reason["position"] != 30.0 {
		t.Errorf("replenishment = %v, want 90 units (position 30, reorder point 80, target 120, rule forecast)", d)
	}
}

func TestAnExceptionIsRaisedOnceWhenSalesMissTheForecast(t *testing.T) {
	t.Parallel()
	h := startPlanningHub(t, newPlanClock(wednesdayW10), nil)
	toCustomer := h.watch("xd.out.acme.forecast.exception")
	toWarehouse := h.watch("xd.wh.dc-east.forecast.exception")

	h.vmiReport("acme", "exc-inv-0", dcEast, vmiDay(0), vmiItem(vmiGTIN, 500, -1))
	h.knowsItem("acme", vmiGTIN)
	h.sendForecast("acme", "exc-fc-1", 1, forecastLine(dcEast, bucket{"2026-W10", 100}, bucket{"2026-W11", 100}))
	h.hasForecast("acme", dcEast, "2026-W11", "100@v1")
	h.vmiReport("acme", "exc-inv-1", dcEast, vmiDay(3), vmiItem(vmiGTIN, 460, 40))
	h.sawReport("acme", dcEast, vmiGTIN, "exc-inv-1")
	// Monday of 2026-W11 closes 2026-W10: 40 sold against 100, 60% short.
	h.vmiReport("acme", "exc-inv-2", dcEast, vmiDay(7), vmiItem(vmiGTIN, 455, 5))
	cust := next(t, toCustomer)
	wh := next(t, toWarehouse)
	d := dataOf(t, cust)
	if d["week"] != "2026-W10" || d["forecast"] != 100.0 || d["actual"] != 40.0 || d["difference"] != -60.0 || d["difference_ratio"] != -0.6 || d["threshold"] != 0.25 {
		t.Errorf("exception = %v, want 2026-W10: forecast 100, actual 40, difference -60 (-0.6), threshold 0.25", d)
	}
	if dataOf(t, wh)["exception_id"] != d["exception_id"] || cust.Extensions()[bus.ExtCausationID] != "exc-inv-2" {
		t.Errorf("the warehouse's copy is another exception, or the customer's does not answer exc-inv-2")
	}

	// The report that raised it, redelivered, announces the same events:
	// JetStream stores neither again.
	cause := event.New()
	_ = json.Unmarshal(vmiReportEvent("acme", "exc-inv-2", dcEast, vmiDay(7), vmiItem(vmiGTIN, 455, 5)), &cause)
	cause.SetExtension(bus.ExtAccount, "acme")
	outs, err := h.planning.Handle(context.Background(), &bus.Delivery{Event: &cause, Subject: "xd.routed.strategic.acme.inventory.reported", Attempt: 2})
	if err != nil || len(outs) != 2 {
		t.Fatalf("redelivery: %d events, %v; want the two copies again", len(outs), err)
	}
	if dups, err := h.bus.Publish(context.Background(), outs...); err != nil || dups != 2 {
		t.Errorf("publishing the redelivery's events: %d duplicates, %v; want 2 duplicates", dups, err)
	}

	// A later report of the same week's successor raises nothing more.
	h.vmiReport("acme", "exc-inv-3", dcEast, vmiDay(8), vmiItem(vmiGTIN, 450, 5))
	h.sawReport("acme", dcEast, vmiGTIN, "exc-inv-3")
	if n := h.count(bus.StreamOut, "xd.out.acme.forecast.exception"); n != 1 {
		t.Errorf("the customer got %d exceptions, want 1", n)
	}
	if n := h.count(bus.StreamOut, "xd.wh.dc-east.forecast.exception"); n != 1 {
		t.Errorf("the warehouse got %d exceptions, want 1", n)
	}
}

// TestAn830FileBecomesForecastsWithA997 sends X12 830s over NATS and HTTP:
// the good sets become forecasts at the warehouses, the bad ones are named
// by segment with their codes, the file over NATS lands in the DLQ, and
// each file is acknowledged with a 997.
func TestAn830FileBecomesForecastsWithA997(t *testing.T) {
	t.Parallel()
	h := startPlanningHub(t, newPlanClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)), nil)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "adapters", "x12", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Both items become acme's by a report.
	h.vmiReport("acme", "x830-inv", dcEast, "2026-12-01T08:00:00Z", vmiItem(vmiGTIN, 500, -1), vmiItem("04000417025005", 80, -1))
	h.knowsItem("acme", vmiGTIN)
	h.knowsItem("acme", "04000417025005")

	t.Run("over NATS, the good set is stored, the file is dead-lettered and answered with a 997", func(t *testing.T) {
		docs := h.watch("xd.out.acme.edi.document")
		rejected := h.watch("xd.out.acme.event.rejected")
		js, err := jetstream.New(h.connect("acme"))
		if err != nil {
			t.Fatal(err)
		}
		file := read("acme-830-errors.edi")
		if _, err := js.Publish(context.Background(), "xd.raw.acme.x12", file); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if x12 := string(next(t, docs).Data()); !strings.Contains(x12, "AK1*PS*83101") || !strings.Contains(x12, "AK9*P*4*4*1") {
			t.Errorf("997:\n%s", x12)
		}
		var got []string
		for _, e := range dataOf(t, next(t, rejected))["errors"].([]any) {
			m := e.(map[string]any)
			if m["code"] != "parse_error" || strings.Contains(m["field"].(string), "element") {
				got = append(got, m["code"].(string)+" "+m["field"].(string))
			}
		}
		want := []string{"parse_error segment 14 SE element 01", "schema_violation ST 0003 (830) segment 5 FST element 01", "unknown_ship_to ST 0004 (830) segment 3 N1 element 04"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("errors = %v, want %v", got, want)
		}
		if dl := h.lastDLQ(t, "xd.dlq.acme.parse_error"); string(dl.Data) != string(file) {
			t.Errorf("the dead letter is not the file as sent")
		}
		h.hasForecast("acme", dcEast, "2026-W50", "100@v1")
	})

	t.Run("over HTTP, two good sets are two forecasts for two warehouses, with a 997 in the answer", func(t *testing.T) {
		east := h.watch("xd.wh.dc-east.forecast.shared")
		west := h.watch("xd.wh.dc-west.forecast.shared")
		status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", read("acme-830.edi"))
		if status != http.StatusAccepted || len(body["accepted"].([]any)) != 2 {
			t.Fatalf("ingest: %d %v", status, body)
		}
		if ack := body["acknowledgment"].(string); !strings.Contains(ack, "AK1*PS*83001") || !strings.Contains(ack, "AK9*A*2*2*2") {
			t.Errorf("997:\n%s", ack)
		}
		gtins := map[string]bool{}
		for range 2 {
			for _, l := range dataOf(t, next(t, east))["lines"].([]any) {
				gtins[l.(map[string]any)["gtin"].(string)] = true
			}
		}
		if !gtins[vmiGTIN] || !gtins["04000417025005"] {
			t.Errorf("dc-east got forecasts of %v, want both items", gtins)
		}
		// acme's store is dc-west's: the store's line of set 0001 goes there.
		if l := dataOf(t, next(t, west))["lines"].([]any); len(l) != 1 || l[0].(map[string]any)["location"] != acmeStore {
			t.Errorf("dc-west got %v, want the store's line", l)
		}
		h.hasForecast("acme", dcEast, "2026-W52", "210@v3")
		want := map[string]string{"2026-W50": "140@v3", "2026-W51": "280@v3", "2026-W52": "210@v3"}
		if got := weeksOf(h.forecastInForce("acme", dcEast)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("forecast in force at the DC = %v, want version 3's %v", got, want)
		}
	})
}

// TestAccuracyIsWeightedByWhatSold measures a small fixture computed by
// hand: acme's DC sold 80 and 130 against 100 and 100 in 2026-W10 and W11,
// its store 40 against 50 in W11; globex, also strategic, sold 100 against
// 100 in W11.
func TestAccuracyIsWeightedByWhatSold(t *testing.T) {
	t.Parallel()
	clock := newPlanClock(wednesdayW10)
	h := startPlanningHub(t, clock, map[string]string{"globex": "strategic"})
	h.vmiReport("acme", "acc-dc-w10", dcEast, "2026-03-03T08:00:00Z", vmiItem(vmiGTIN, 500, 80))
	h.vmiReport("globex", "acc-gx-w10", globexDC, "2026-03-03T08:00:00Z", vmiItem(vmiGTIN, 500, -1))
	h.knowsItem("acme", vmiGTIN)
	h.knowsItem("globex", vmiGTIN)
	h.sendForecast("acme", "acc-fc", 1, forecastLine(dcEast, bucket{"2026-W10", 100}, bucket{"2026-W11", 100}), forecastLine(acmeStore, bucket{"2026-W11", 50}))
	h.sendForecast("globex", "acc-gx-fc", 1, forecastLine(globexDC, bucket{"2026-W11", 100}))
	h.hasForecast("acme", dcEast, "2026-W11", "100@v1")
	h.hasForecast("acme", acmeStore, "2026-W11", "50@v1")
	h.hasForecast("globex", globexDC, "2026-W11", "100@v1")
	h.vmiReport("acme", "acc-dc-w11", dcEast, "2026-03-10T08:00:00Z", vmiItem(vmiGTIN, 400, 130))
	h.vmiReport("acme", "acc-st-w11", acmeStore, "2026-03-10T08:00:00Z", vmiItem(vmiGTIN, 60, 40))
	h.vmiReport("globex", "acc-gx-w11", globexDC, "2026-03-10T08:00:00Z", vmiItem(vmiGTIN, 400, 100))
	h.sawReport("acme", dcEast, vmiGTIN, "acc-dc-w11")
	h.sawReport("acme", acmeStore, vmiGTIN, "acc-st-w11")
	h.sawReport("globex", globexDC, vmiGTIN, "acc-gx-w11")

	type figures struct {
		weeks          int
		forecast, sold int
		wmape, bias    float64
	}
	check := func(t *testing.T, what string, got any, want figures) {
		t.Helper()
		m, _ := got.(map[string]any)
		if m == nil || m["weeks"] != float64(want.weeks) || m["forecast"] != float64(want.forecast) || m["actual"] != float64(want.sold) ||
			m["wmape"] != want.wmape || m["bias"] != want.bias {
			t.Errorf("%s = %v, want %+v", what, got, want)
		}
	}
	accuracy := func(t *testing.T) map[string]any {
		t.Helper()
		status, body := h.get("/v1/planning/accuracy", key("acme"))
		if status != http.StatusOK {
			t.Fatalf("GET accuracy: %d %v", status, body)
		}
		return body
	}
	item := func(body map[string]any, gln string) map[string]any {
		for _, it := range body["items"].([]any) {
			if m := it.(map[string]any); m["location"] == gln {
				return m
			}
		}
		t.Fatalf("no item at %s in %v", gln, body["items"])
		return nil
	}

	t.Run("in 2026-W12 both weeks are in both windows", func(t *testing.T) {
		clock.set(time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC))
		body := accuracy(t)
		if body["through_week"] != "2026-W11" {
			t.Errorf("through_week = %v, want 2026-W11", body["through_week"])
		}
		// DC: |80-100| + |130-100| = 50 over 210 sold; bias (20-30)/210.
		check(t, "the DC's last 4 weeks", item(body, dcEast)["last_4_weeks"], figures{2, 200, 210, 0.2381, -0.0476})
		// Store: 10 over 40; bias 10/40.
		check(t, "the store's last 13 weeks", item(body, acmeStore)["last_13_weeks"], figures{1, 50, 40, 0.25, 0.25})
		// acme: 60 over 250, bias 0; the tier adds globex's exact week: 60 over 350.
		totals := body["account_totals"].(map[string]any)
		check(t, "acme's last 4 weeks", totals["last_4_weeks"], figures{3, 250, 250, 0.24, 0})
		check(t, "acme's last 13 weeks", totals["last_13_weeks"], figures{3, 250, 250, 0.24, 0})
		check(t, "the strategic tier's last 13 weeks", body["tier_totals"].(map[string]any)["last_13_weeks"], figures{4, 350, 350, 0.1714, 0})
	})

	t.Run("the week's scorecard carries the accuracy as of its end", func(t *testing.T) {
		clock.set(time.Date(2026, 3, 18, 12, 0, 0, 0, time.UTC))
		status, body := h.get("/v1/scorecard?period=week&from=2026-03-10", key("acme"))
		if status != http.StatusOK {
			t.Fatalf("GET scorecard: %d %v", status, body)
		}
		sections, _ := body["sections"].(map[string]any)
		acc, _ := sections["forecast_accuracy"].(map[string]any)
		if acc == nil || acc["through_week"] != "2026-W11" {
			t.Fatalf("scorecard sections = %v, want forecast_accuracy through 2026-W11, the card's own week", sections)
		}
		// The same figures as the accuracy endpoint's in W12.
		check(t, "acme's last 4 weeks on the W11 card", acc["account_totals"].(map[string]any)["last_4_weeks"], figures{3, 250, 250, 0.24, 0})
		if status, body := h.get("/v1/scorecard?period=week&from=2026-03-10", key("umbrella")); status != http.StatusOK || body["sections"] != nil {
			t.Errorf("umbrella's scorecard = %d %v, want no sections (no shared planning)", status, body)
		}
	})

	t.Run("in 2026-W15 the last 4 weeks have only W11", func(t *testing.T) {
		clock.set(time.Date(2026, 4, 8, 12, 0, 0, 0, time.UTC))
		body := accuracy(t)
		totals := body["account_totals"].(map[string]any)
		// W11: |130-100| + |40-50| = 40 over 170; bias (-30+10)/170.
		check(t, "acme's last 4 weeks", totals["last_4_weeks"], figures{2, 150, 170, 0.2353, -0.1176})
		check(t, "acme's last 13 weeks", totals["last_13_weeks"], figures{3, 250, 250, 0.24, 0})
	})

	t.Run("an account without shared planning has no accuracy", func(t *testing.T) {
		if status, body := h.get("/v1/planning/accuracy", key("umbrella")); status != http.StatusConflict || firstCode(t, body) != "not_in_tier_menu" {
			t.Errorf("GET as umbrella: %d %v, want 409 not_in_tier_menu", status, body)
		}
	})
}
