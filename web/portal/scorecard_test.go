package portal_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/services/orders"
)

// The scorecard fixture: acme's orders and replenishments around ISO week
// 2026-W12 (Monday 16 to Sunday 22 March 2026), seen on Wednesday 25 March
// at noon, the hub's clock. The figures below were computed by hand from it
// with docs/scorecard.md's definitions:
//
//	placed 8 (P1-P8; P0 is the week before, P9 the week after)
//	accepted at once 3 (P1, P3, P8) 37.5%, held 2 (P2 released, P4 still held) 25.0%, rejected 3 37.5%
//	top rejection reasons: below_minimum_order 3, outside_order_window 1, ship_to_not_dc 1
//	taken 4 (P1, P2, P3, P8): 250 units ordered, 100+50+40 = 190 shipped: fill rate 76.0%
//	due 3 (P8's date is after the clock): on time P1, P2: 66.7%
//	cycle times 24.5, 74, 72.5 h: p50 72.5 h, p90 74.0 h
//	replenishments requested 3 (R1-R3), 2 shipped: lead times 48 and 12 h, p50 12.0 h, p90 48.0 h
//	days below the reorder point 1 (R0, from before the week) + 3 + 2 + 1 = 7, over 4 location-items
const (
	scoreWeek  = "2026-03-18" // a day of 2026-W12
	otherGTIN  = "00614141123469"
	scoreWeekQ = "?period=week&from=" + scoreWeek
)

var scoreClock = march(25, 12, 0)

func march(day, hour, minute int) time.Time {
	return time.Date(2026, time.March, day, hour, minute, 0, 0, time.UTC)
}

// fixtureOrder is one of acme's orders as the order service keeps it,
// accepted at placed; the options decide and ship it otherwise.
func fixtureOrder(po string, placed time.Time, requested string, units float64, options ...func(*orders.Order)) *orders.Order {
	o := &orders.Order{
		Placed:  orders.Placed{PONumber: po, ShipTo: acmeDC, RequestedDate: requested, Lines: []orders.Line{{Line: 1, GTIN: gtin, Quantity: units, Unit: "EA"}}},
		Account: "acme", State: orders.StateAccepted, Warehouse: "dc-east", PlacedEventID: "placed-" + po, Channel: "portal",
	}
	o.History = []orders.Change{{At: placed, State: orders.StateAccepted, EventID: o.PlacedEventID}}
	for _, option := range options {
		option(o)
	}
	return o
}

// heldUntil holds the order at its placement; released at release when
// release is before the clock, still held otherwise.
func heldUntil(release time.Time) func(*orders.Order) {
	return func(o *orders.Order) {
		o.History[0].State = orders.StateHeld
		if release.Before(scoreClock) {
			o.History = append(o.History, orders.Change{At: release, State: orders.StateAccepted, EventID: o.PlacedEventID, Note: "released on its ordering day"})
			return
		}
		o.State, o.ReleaseAt = orders.StateHeld, &release
	}
}

func rejectedFor(codes ...string) func(*orders.Order) {
	return func(o *orders.Order) {
		o.State, o.History[0].State, o.Warehouse = orders.StateRejected, orders.StateRejected, ""
		for _, c := range codes {
			o.Reasons = append(o.Reasons, bus.Problem{Code: c, Message: c, Field: "lines"})
		}
	}
}

func shipped(at time.Time, units float64) func(*orders.Order) {
	return func(o *orders.Order) {
		d := orders.Dispatch{ShipmentID: "SH-" + o.PONumber, At: at, EventID: "shipped-" + o.PONumber, Units: units}
		o.State, o.Dispatches, o.Shipments = orders.StateShipped, append(o.Dispatches, d), append(o.Shipments, d.ShipmentID)
		o.History = append(o.History, orders.Change{At: at, State: orders.StateShipped, EventID: d.EventID, Note: "shipment " + d.ShipmentID})
	}
}

func fixtureOrders() []*orders.Order {
	return []*orders.Order{
		fixtureOrder("P0", march(15, 20, 0), "2026-03-20", 10),
		fixtureOrder("P1", march(16, 9, 0), "2026-03-18", 100, shipped(march(17, 9, 30), 100)),
		fixtureOrder("P2", march(17, 10, 0), "2026-03-20", 50, heldUntil(march(18, 0, 0)), shipped(march(20, 12, 0), 50)),
		fixtureOrder("P3", march(18, 8, 0), "2026-03-19", 80, shipped(march(21, 8, 30), 40)),
		fixtureOrder("P4", march(19, 12, 0), "2026-04-02", 30, heldUntil(march(30, 0, 0))),
		fixtureOrder("P5", march(19, 15, 0), "2026-04-02", 5, rejectedFor("below_minimum_order", "outside_order_window")),
		fixtureOrder("P6", march(20, 9, 0), "2026-04-02", 5, rejectedFor("below_minimum_order")),
		fixtureOrder("P7", march(21, 10, 0), "2026-04-02", 5, rejectedFor("below_minimum_order", "ship_to_not_dc")),
		fixtureOrder("P8", march(22, 18, 0), "2026-03-27", 20),
		fixtureOrder("P9", march(23, 1, 0), "2026-03-30", 10),
	}
}

// fixtureReplenishment is one of acme's replenishments: its request and,
// unless shippedAt is zero, its first shipment, as XD_OUT holds them.
type fixtureReplenishment struct {
	id, location, gtin     string
	requestedAt, shippedAt time.Time
}

var fixtureReplenishments = []fixtureReplenishment{
	{"R0", acmeStore, otherGTIN, march(14, 8, 0), march(16, 10, 0)},
	{"R1", acmeDC, gtin, march(17, 6, 0), march(19, 6, 0)},
	{"R2", acmeStore, gtin, march(20, 12, 0), march(21, 0, 0)},
	{"R3", acmeDC, otherGTIN, march(22, 8, 0), time.Time{}},
}

// startScored starts a hub whose clock is scoreClock on a NATS server of
// the test's own, and seeds the fixture. Placement and shipment times are
// the times JetStream stored the events, which no clock moves, so the
// orders are written to the bucket as the order service writes them, and
// the replenishments to XD_OUT as the VMI service and the router do.
func startScored(t *testing.T) *env {
	t.Helper()
	srv := bustest.RunServer(t, "")
	e := startWith(t, func(c *hub.Config) {
		c.NATSURL, c.NATSListen, c.Data = srv.ClientURL(), "", ""
		c.Now = func() time.Time { return scoreClock }
	})
	b := bustest.New(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := b.JetStream().KeyValue(ctx, orders.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range fixtureOrders() {
		v, _ := json.Marshal(o)
		if _, err := kv.Put(ctx, "po.acme."+base64.RawURLEncoding.EncodeToString([]byte(o.PONumber)), v); err != nil {
			t.Fatal(err)
		}
	}
	var outs []bus.Outgoing
	for _, r := range fixtureReplenishments {
		outs = append(outs, outEvent(t, "requested-"+r.id, "replenishment.requested", r.requestedAt, map[string]any{
			"replenishment_id": r.id, "location": r.location, "gtin": r.gtin, "quantity": 24,
			"reason": map[string]any{"position": 4, "reorder_point": 10, "target": 28}}))
		if !r.shippedAt.IsZero() {
			outs = append(outs, outEvent(t, "shipped-"+r.id, "shipment.dispatched", r.shippedAt, map[string]any{
				"shipment_id": "SH-" + r.id, "replenishment_id": r.id, "lines": []map[string]any{{"gtin": r.gtin, "quantity": 24}}}))
		}
	}
	if _, err := b.Publish(ctx, outs...); err != nil {
		t.Fatal(err)
	}
	return e
}

// outEvent is an event of acme's in XD_OUT.
func outEvent(t *testing.T, id, name string, at time.Time, data any) bus.Outgoing {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(bus.Type(name))
	ev.SetSource("/crossdock/vmi")
	ev.SetTime(at)
	ev.SetExtension(bus.ExtAccount, "acme")
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return bus.Outgoing{Subject: bus.OutSubject("acme", name), Event: &ev}
}

var figureOf = regexp.MustCompile(`id="([a-z0-9-]+)">([^<]*)<`)

// figures are the page's figures by element id.
func figures(page string) map[string]string {
	out := map[string]string{}
	for _, m := range figureOf.FindAllStringSubmatch(page, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// weekFigures are what the fixture's week shows, by element id.
var weekFigures = map[string]string{
	"label": "Week 2026-W12", "placed": "8",
	"fill-rate": "76.0%", "on-time": "66.7%", "cycle-p50": "72.5 h", "cycle-p90": "74.0 h",
	"accepted-share": "37.5%", "held-share": "25.0%", "rejected-share": "37.5%",
	"replenishments": "2 of 3", "lead-p50": "12.0 h", "lead-p90": "48.0 h", "days-below": "7",
}

func TestTheScorecardPage(t *testing.T) {
	e := startScored(t)
	buyer, viewer, globex, warehouse := e.client(), e.client(), e.client(), e.client()
	buyer.signInUser("buyer@acme.example")
	viewer.signInUser("viewer@acme.example")
	globex.signInKey(key("globex"))
	warehouse.signInKey(key("dc-east"))

	for _, tc := range []struct {
		name string
		c    *client
	}{{"a buyer sees the fixture's figures", buyer}, {"a viewer sees the same figures", viewer}} {
		t.Run(tc.name, func(t *testing.T) {
			status, page := tc.c.get("/portal/scorecard" + scoreWeekQ)
			if status != http.StatusOK {
				t.Fatalf("GET = %d:\n%s", status, page)
			}
			got := figures(page)
			for id, want := range weekFigures {
				if got[id] != want {
					t.Errorf("#%s = %q, want %q", id, got[id], want)
				}
			}
			reasons := regexp.MustCompile(`<tr><td><code>([a-z_]+)</code></td><td class="num">(\d+)</td></tr>`).FindAllStringSubmatch(page, -1)
			var list []string
			for _, r := range reasons {
				list = append(list, r[1]+" "+r[2])
			}
			if want := "below_minimum_order 3, outside_order_window 1, ship_to_not_dc 1"; strings.Join(list, ", ") != want {
				t.Errorf("top rejection reasons = %q, want %q", strings.Join(list, ", "), want)
			}
			if !strings.Contains(page, `href="/portal/scorecard" aria-current="page"`) {
				t.Errorf("the navigation does not mark the scorecard as the current page")
			}
			if offers := strings.Contains(page, `href="/portal/place">ordering form`); offers != (tc.c == buyer) {
				t.Errorf("the link to the tier's rules is shown: %v, want %v (buyers only)", offers, tc.c == buyer)
			}
		})
	}
	t.Run("the week defaults to the clock's and has no next week yet", func(t *testing.T) {
		_, page := buyer.get("/portal/scorecard")
		got := figures(page)
		if got["label"] != "Week 2026-W13" || got["placed"] != "1" || got["fill-rate"] != "0.0%" || got["on-time"] != "–" {
			t.Errorf("the default week shows %v, want 2026-W13 with P9 only", got)
		}
		if strings.Contains(page, `id="next"`) || !strings.Contains(page, `href="/portal/scorecard?from=2026-03-22&amp;period=week"`) {
			t.Errorf("want a link to the week before and none to the week after:\n%s", page)
		}
	})
	t.Run("the month counts every order of March", func(t *testing.T) {
		_, page := buyer.get("/portal/scorecard?period=month&from=2026-03-31")
		if got := figures(page); got["label"] != "Month 2026-03" || got["placed"] != "10" {
			t.Errorf("the month shows %v, want 2026-03 with 10 orders placed", got)
		}
	})
	t.Run("the CSV is the API's", func(t *testing.T) {
		resp, err := buyer.http.Get(e.base + "/portal/scorecard.csv" + scoreWeekQ)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/scorecard"+scoreWeekQ, nil)
		req.Header.Set("Authorization", "Bearer "+key("acme"))
		req.Header.Set("Accept", "text/csv")
		api, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(api.Body)
		api.Body.Close()
		if resp.StatusCode != http.StatusOK || string(page) != string(want) || !strings.Contains(string(page), "orders.fill_rate,0.76\n") {
			t.Errorf("GET /portal/scorecard.csv = %d\n%s\nwant the API's\n%s", resp.StatusCode, page, want)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="scorecard-acme-2026-W12.csv"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
	})
	t.Run("a bad period is shown next to its field with the API's code and message", func(t *testing.T) {
		status, page := buyer.get("/portal/scorecard?period=year")
		_, api := e.apiGet("acme", "/v1/scorecard?period=year")
		problem := api["errors"].([]any)[0].(map[string]any)
		want := `<ul class="errors" id="err-period" data-errors-for="period" aria-live="polite"><li><code>schema_violation</code> ` + html.EscapeString(problem["message"].(string)) + `</li></ul>`
		if status != http.StatusBadRequest || problem["code"] != "schema_violation" || !strings.Contains(page, want) {
			t.Errorf("GET ?period=year = %d, want 400 showing %s:\n%s", status, want, page)
		}
	})
	t.Run("another account's scorecard is not reachable", func(t *testing.T) {
		for _, path := range []string{"/portal/scorecard" + scoreWeekQ + "&account=acme", "/portal/scorecard/acme" + scoreWeekQ} {
			status, page := globex.get(path)
			if strings.Contains(page, "76.0%") || strings.Contains(page, "below_minimum_order") {
				t.Errorf("GET %s as globex shows acme's figures:\n%s", path, page)
			}
			if status == http.StatusOK && figures(page)["placed"] != "0" {
				t.Errorf("GET %s as globex = %v, want globex's own empty card", path, figures(page))
			}
		}
		if _, page := buyer.get("/portal/scorecard" + scoreWeekQ + "&account=globex"); figures(page)["placed"] != "8" {
			t.Errorf("acme asking for account=globex sees %v, want its own card", figures(page))
		}
		resp, err := globex.http.Get(e.base + "/portal/scorecard.csv" + scoreWeekQ + "&account=acme")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "account,globex\n") || strings.Contains(string(body), "acme") {
			t.Errorf("globex's CSV with account=acme:\n%s", body)
		}
	})
	t.Run("VMI and forecast figures are shown to the accounts whose tier has them", func(t *testing.T) {
		umbrella := e.client()
		umbrella.signInKey(key("umbrella"))
		for _, tc := range []struct {
			name          string
			c             *client
			vmi, forecast bool
		}{
			{"acme (strategic: VMI, shared planning)", buyer, true, true},
			{"globex (integrated: VMI, no shared planning)", globex, true, false},
			{"umbrella (stable: neither)", umbrella, false, false},
		} {
			_, page := tc.c.get("/portal/scorecard" + scoreWeekQ)
			if vmi, forecast := strings.Contains(page, `id="vmi-h"`), strings.Contains(page, `id="forecast-h"`); vmi != tc.vmi || forecast != tc.forecast {
				t.Errorf("%s: VMI shown %v, forecast accuracy shown %v; want %v, %v", tc.name, vmi, forecast, tc.vmi, tc.forecast)
			}
		}
	})
	t.Run("a warehouse has no scorecard", func(t *testing.T) {
		_, work := warehouse.get("/portal/work")
		if strings.Contains(work, "/portal/scorecard") {
			t.Errorf("a warehouse's navigation links the scorecard")
		}
		for _, path := range []string{"/portal/scorecard", "/portal/scorecard.csv"} {
			if status, page := warehouse.get(path); status != http.StatusForbidden || !strings.Contains(page, "This page is for accounts") {
				t.Errorf("GET %s as a warehouse = %d, want 403 saying it is for accounts", path, status)
			}
		}
	})
}
