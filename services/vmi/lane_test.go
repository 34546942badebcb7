package vmi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

// The tests below run the VMI service on its lanes as the hub runs it:
// reports and shipments arrive in XD_ROUTED as the router leaves them, the
// answers are read from the subjects warehouses and customers follow, and
// positions through the service's own HTTP API.

const (
	laneAdmin = "test-admin"
	acmeDC    = "0614141000005" // acme: strategic, continuous VMI
	globexDC  = "0614141000029" // globex: integrated, scheduled VMI
	initechDC = "0614141000043" // initech: emerging, no VMI
	itemGTIN  = "00614141123452"
	otherGTIN = "00614141999996"
)

// laneAccounts is the accounts file of the lane tests; acmeVMI, when not
// empty, is acme's vmi: entry (an agreement).
func laneAccounts(acmeVMI string) string {
	if acmeVMI != "" {
		acmeVMI = "\n    vmi: " + acmeVMI
	}
	return fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]}
accounts:
  - id: acme
    tier: strategic
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]%s
  - id: globex
    tier: integrated
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
  - id: initech
    tier: emerging
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
`, accounts.HashKey("key-dc-east"), accounts.HashKey("key-acme"), acmeDC, acmeVMI,
		accounts.HashKey("key-globex"), globexDC, accounts.HashKey("key-initech"), initechDC)
}

// lane is a VMI service running on a real server, with its HTTP API (reads
// and admin) on a real listener.
type lane struct {
	t    *testing.T
	svc  *Service
	bus  *bus.Bus
	reg  *accounts.Registry
	base string
}

func startLane(t *testing.T, accountsYAML string, now func() time.Time) *lane {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg := accountstest.Registry(t, b, accountsYAML)
	svc, err := New(context.Background(), Config{Now: now}, b, reg, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, svc.Run)
	mux := http.NewServeMux()
	mux.Handle("/v1/inventory/", svc.Handler())
	mux.Handle("/v1/admin/vmi/", svc.AdminHandler(laneAdmin))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &lane{t: t, svc: svc, bus: b, reg: reg, base: srv.URL}
}

// morning is the lane tests' clock: before the integrated tier's 18:00 UTC
// cut-off whatever the real time, so that the scheduled run never takes a
// replenishment a test asks for on demand.
func morning() time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) }

// day is the as_of of the n-th day of a test's reports.
func day(n int) string {
	return time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).AddDate(0, 0, n).Format(time.RFC3339)
}

// item is one line of an inventory report; sold < 0 leaves sold_since_last out.
func item(gtin string, onHand, sold int) map[string]any {
	it := map[string]any{"gtin": gtin, "on_hand": onHand}
	if sold >= 0 {
		it["sold_since_last"] = sold
	}
	return it
}

// route stores an event of account in its lane, as the router does.
func (l *lane) route(id, name, source, account string, data any) {
	l.t.Helper()
	hubtest.Route(l.t, l.bus, l.reg, id, name, source, account, data)
}

// report stores an inventory report in the account's lane. A lane handles
// several events at once, so a test that needs two reports of one position
// applied in order waits for the first (position) before sending the second.
func (l *lane) report(account, id, gln, asOf string, items ...map[string]any) {
	l.t.Helper()
	l.route(id, "inventory.reported", "/accounts/"+account, account, map[string]any{"location": gln, "as_of": asOf, "items": items})
}

// ship stores a warehouse's shipment of a replenishment in the account's lane.
func (l *lane) ship(id, warehouse, account, replenishmentID string, qty int) {
	l.t.Helper()
	l.route(id, "shipment.dispatched", "/warehouses/"+warehouse, account, map[string]any{
		"shipment_id": "SHP-" + id, "replenishment_id": replenishmentID,
		"lines": []map[string]any{{"gtin": itemGTIN, "quantity": qty, "unit": "EA"}}})
}

// watch returns the events published on subject from now on.
func (l *lane) watch(subject string) <-chan *event.Event {
	return bustest.Watch(l.t, l.bus.Conn(), subject)
}

// do sends a request with a bearer token and decodes the JSON answer.
func (l *lane) do(method, path, token string) (int, map[string]any) {
	l.t.Helper()
	req, err := http.NewRequest(method, l.base+path, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	return hubtest.Do(l.t, req, token)
}

// position waits until the account's position at gln shows the report
// taken at asOf, and returns it.
func (l *lane) position(account, gln, gtin, asOf string) map[string]any {
	l.t.Helper()
	var pos map[string]any
	bustest.CheckFor(l.t, 10*time.Second, func() error {
		status, body := l.do(http.MethodGet, "/v1/inventory/"+gln+"/"+gtin, "key-"+account)
		if status != http.StatusOK || body["as_of"] != asOf {
			return fmt.Errorf("GET position: %d %v, want as_of %s", status, body, asOf)
		}
		pos = body
		return nil
	})
	return pos
}

// next waits for the next event on ch.
func next(t *testing.T, ch <-chan *event.Event) *event.Event {
	t.Helper()
	return bustest.Next(t, ch, 10*time.Second)
}

func TestContinuousReplenishmentFollowsReportsAndShipments(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""), morning)
	toWarehouse := l.watch("xd.wh.dc-east.replenishment.requested")
	toCustomer := l.watch("xd.out.acme.replenishment.requested")

	// Day 0 is the first report: no demand yet. Day 1: 90 sold in a day, so
	// demand 90/day; strategic policy: lead 2 days, review 1 day, no
	// deviation yet: reorder point 180, target 270; position 10 → 260.
	l.report("acme", "inv-0", acmeDC, day(0), item(itemGTIN, 100, -1))
	l.position("acme", acmeDC, itemGTIN, day(0))
	l.report("acme", "inv-1", acmeDC, day(1), item(itemGTIN, 10, 90))
	wh := next(t, toWarehouse)
	d := hubtest.DataOf(t, wh)
	reason := d["reason"].(map[string]any)
	if d["quantity"] != 260.0 || d["location"] != acmeDC || d["gtin"] != itemGTIN || reason["reorder_point"] != 180.0 || reason["target"] != 270.0 || reason["position"] != 10.0 {
		t.Errorf("replenishment = %v, want 260 of %s at %s (position 10, reorder point 180, target 270)", d, itemGTIN, acmeDC)
	}
	if wh.Extensions()["causationid"] != "inv-1" {
		t.Errorf("causationid = %v, want inv-1", wh.Extensions()["causationid"])
	}
	cp := next(t, toCustomer)
	if dc := hubtest.DataOf(t, cp); dc["replenishment_id"] != d["replenishment_id"] || cp.ID() == wh.ID() {
		t.Errorf("customer copy %s %v, want the same replenishment under its own event id", cp.ID(), dc)
	}
	rid := d["replenishment_id"].(string)

	pos := l.position("acme", acmeDC, itemGTIN, day(1))
	if pos["on_hand"] != 10.0 || pos["open"] != 260.0 || pos["inventory_position"] != 270.0 || pos["demand"] != 90.0 || pos["reorder_point"] != 180.0 || pos["target"] != 270.0 {
		t.Errorf("position = %v", pos)
	}
	if status, body := l.do(http.MethodGet, "/v1/inventory/"+acmeDC+"/"+itemGTIN, "key-globex"); status != http.StatusNotFound || hubtest.FirstCode(t, body) != "unknown_position" {
		t.Errorf("another account's GET = %d %v, want 404 unknown_position", status, body)
	}
	if status, body := l.do(http.MethodGet, "/v1/inventory/"+acmeDC+"/00614141123453", "key-acme"); status != http.StatusBadRequest || hubtest.FirstCode(t, body) != "schema_violation" {
		t.Errorf("GET with a bad GTIN = %d %v, want 400 schema_violation", status, body)
	}
	if status, _ := l.do(http.MethodGet, "/v1/inventory/"+acmeDC+"/"+itemGTIN, ""); status != http.StatusUnauthorized {
		t.Errorf("GET without a key = %d, want 401", status)
	}
	// The GTIN-12 of the same item finds the same position.
	if _, body := l.do(http.MethodGet, "/v1/inventory/"+acmeDC+"/614141123452", "key-acme"); body["gtin"] != itemGTIN {
		t.Errorf("GET by GTIN-12 = %v, want the position of %s", body, itemGTIN)
	}

	// Reports faster than shipments: the position has an open replenishment,
	// so a report that would trigger one asks for none.
	// A burst of them, handled in parallel by the lane's workers, too.
	for i := 2; i <= 6; i++ {
		l.report("acme", fmt.Sprintf("inv-%d", i), acmeDC, day(i), item(itemGTIN, 0, 2))
	}
	l.position("acme", acmeDC, itemGTIN, day(6))
	if n := bustest.Count(t, l.bus, bus.StreamOut, "xd.wh.dc-east.replenishment.requested"); n != 1 {
		t.Errorf("%d replenishments requested, want 1 while one is open", n)
	}

	// The warehouse ships: open moves to on order, the customer gets the shipment.
	shipped := l.watch("xd.out.acme.shipment.dispatched")
	l.ship("rship-1", "dc-east", "acme", rid, 260)
	if ev := next(t, shipped); ev.ID() != "rship-1" {
		t.Errorf("forwarded %s, want rship-1", ev.ID())
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		_, p := l.do(http.MethodGet, "/v1/inventory/"+acmeDC+"/"+itemGTIN, "key-acme")
		if p["open"] != 0.0 || p["in_transit"] != 260.0 || p["on_order"] != 260.0 || p["open_replenishment"] == nil {
			return fmt.Errorf("position after shipment = %v, want open 0, 260 in transit and on order", p)
		}
		return nil
	})

	// The next report shows it received (on hand rose by 250 with 10 sold): closed.
	l.report("acme", "inv-7", acmeDC, day(7), item(itemGTIN, 250, 10))
	pos = l.position("acme", acmeDC, itemGTIN, day(7))
	if pos["in_transit"] != 0.0 || pos["open_replenishment"] != nil || pos["on_hand"] != 250.0 {
		t.Errorf("position after receipt = %v, want closed, nothing in transit", pos)
	}

	// A shipment of a replenishment the hub never asked for is refused.
	refused := l.watch("xd.wh.dc-east.event.rejected")
	l.ship("rship-2", "dc-east", "acme", "no-such-replenishment", 5)
	if code := hubtest.FirstCode(t, hubtest.DataOf(t, next(t, refused))); code != "unknown_replenishment" {
		t.Errorf("code = %v, want unknown_replenishment", code)
	}
}

func TestAScheduledRunOnDemand(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""), morning)
	toWarehouse := l.watch("xd.wh.dc-east.replenishment.requested")

	// globex is integrated: reports move positions but request nothing.
	l.report("globex", "g-0", globexDC, day(0), item(itemGTIN, 100, -1), item(otherGTIN, 500, -1))
	l.position("globex", globexDC, otherGTIN, day(0))
	l.report("globex", "g-1", globexDC, day(1), item(itemGTIN, 40, 60), item(otherGTIN, 499, 1))
	l.position("globex", globexDC, itemGTIN, day(1))
	l.position("globex", globexDC, otherGTIN, day(1))
	if n := bustest.Count(t, l.bus, bus.StreamOut, "xd.wh.>"); n != 0 {
		t.Fatalf("%d replenishments before the run, want none in scheduled mode", n)
	}

	run := func(query, token string) (int, map[string]any) {
		return l.do(http.MethodPost, "/v1/admin/vmi/run?"+query, token)
	}
	if status, _ := run("account=globex", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("run with a wrong token: %d, want 401", status)
	}
	if status, body := run("account=initech", laneAdmin); status != http.StatusConflict || hubtest.FirstCode(t, body) != "not_in_tier_menu" {
		t.Errorf("run for an emerging account: %d %v, want 409 not_in_tier_menu", status, body)
	}
	// Demand 60/day, lead 3, review 1: reorder point 180, target 240;
	// position 40 → 200. The other item (demand 1, 499 on hand) needs none.
	status, res := run("account=globex&run=r1", laneAdmin)
	if status != http.StatusOK || res["evaluated"] != 2.0 || res["requested"] != 1.0 {
		t.Fatalf("run = %d %v, want 2 evaluated, 1 requested", status, res)
	}
	d := hubtest.DataOf(t, next(t, toWarehouse))
	if d["quantity"] != 200.0 || d["location"] != globexDC || d["gtin"] != itemGTIN {
		t.Errorf("replenishment = %v, want 200 of %s", d, itemGTIN)
	}

	// The same run again requests nothing new; a new run finds it open.
	if status, res := run("account=globex&run=r1", laneAdmin); status != http.StatusOK || res["requested"] != 1.0 {
		t.Errorf("repeated run = %d %v", status, res)
	}
	if status, res := run("account=globex", laneAdmin); status != http.StatusOK || res["requested"] != 0.0 || res["open"] != 1.0 {
		t.Errorf("new run = %d %v, want the position open and nothing requested", status, res)
	}
	if n := bustest.Count(t, l.bus, bus.StreamOut, "xd.wh.dc-east.replenishment.requested"); n != 1 {
		t.Errorf("%d replenishments stored, want 1", n)
	}
}

func TestAnAgreementOverridesTheComputedLevels(t *testing.T) {
	t.Parallel()
	// acme's agreement for the item: min 10, max 50, cases of 12.
	l := startLane(t, laneAccounts(`{items: {"`+itemGTIN+`": {min: 10, max: 50, case_pack: 12}}}`), morning)
	toWarehouse := l.watch("xd.wh.dc-east.replenishment.requested")

	// No demand yet, but 4 on hand is below the min: up to 50 is 46, three
	// cases (36) because four (48) would pass the max.
	l.report("acme", "a-0", acmeDC, day(0), item(itemGTIN, 4, -1))
	d := hubtest.DataOf(t, next(t, toWarehouse))
	reason := d["reason"].(map[string]any)
	if d["quantity"] != 36.0 || reason["reorder_point"] != 10.0 || reason["target"] != 50.0 {
		t.Errorf("replenishment = %v, want 36 (reorder point 10, target 50)", d)
	}
}

func TestPositionsListsAnAccountsOwnByLocationAndGTIN(t *testing.T) {
	l := startLane(t, laneAccounts(""), morning)
	l.report("acme", "inv-acme", acmeDC, day(1), item(otherGTIN, 40, -1), item(itemGTIN, 30, -1))
	l.report("globex", "inv-globex", globexDC, day(1), item(itemGTIN, 20, -1))
	l.position("acme", acmeDC, otherGTIN, day(1))
	l.position("acme", acmeDC, itemGTIN, day(1))
	l.position("globex", globexDC, itemGTIN, day(1))

	acme, _ := l.reg.Account("acme")
	got, err := l.svc.Positions(context.Background(), acme)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range got {
		keys = append(keys, v.Account+" "+v.Location+" "+v.GTIN)
	}
	want := []string{"acme " + acmeDC + " " + itemGTIN, "acme " + acmeDC + " " + otherGTIN}
	if !slices.Equal(keys, want) {
		t.Errorf("Positions(acme) = %q, want %q", keys, want)
	}
}
