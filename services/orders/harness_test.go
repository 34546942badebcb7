package orders

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

// Locations of the test accounts.
const (
	acmeDC     = "0614141000005"
	acmeStore  = "0614141000012"
	stableDC   = "0614141000050"
	stableShop = "0614141000067"
	otherDC    = "0614141000029"
)

// testAccounts is an accounts file with a strategic account (acme, with
// EDI), a stable one (umbrella, ordering on Mondays) and another strategic
// one (globex) to prove that accounts never see each other's orders.
func testAccounts() string {
	return fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]}
accounts:
  - id: acme
    tier: strategic
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-east}
    edi: {format: x12}
  - id: umbrella
    tier: stable
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-east}
  - id: globex
    tier: strategic
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
`, accounts.HashKey("key-dc-east"), accounts.HashKey("key-acme"), acmeDC, acmeStore,
		accounts.HashKey("key-umbrella"), stableDC, stableShop, accounts.HashKey("key-globex"), otherDC)
}

// testService is an order service on a real embedded NATS server, its
// consumers running, with its HTTP API on a real listener.
type testService struct {
	*Service
	t    testing.TB
	bus  *bus.Bus
	reg  *accounts.Registry
	base string
}

// monday is the tests' clock for dry runs: a Monday morning, UTC.
var monday = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)

func startService(t testing.TB, now func() time.Time) *testService {
	t.Helper()
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	reg := accountstest.Registry(t, b, testAccounts())
	svc, err := New(context.Background(), Config{Now: now, ReleaseEvery: time.Hour}, b, reg, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, svc.Run)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	return &testService{Service: svc, t: t, bus: b, reg: reg, base: srv.URL}
}

// place publishes an order.placed of account in its lane, as the router
// would, and returns the event's id.
func (ts *testService) place(account string, p map[string]any) string {
	ts.t.Helper()
	id := fmt.Sprintf("ev-%s-%v", account, p["po_number"])
	return hubtest.Route(ts.t, ts.bus, ts.reg, id, bus.Name(typePlaced), "/accounts/"+account, account, p).ID()
}

// order is an order.placed data object.
func order(po, shipTo, requested string, quantities ...float64) map[string]any {
	var lines []map[string]any
	for i, q := range quantities {
		lines = append(lines, map[string]any{"line": i + 1, "gtin": "00614141123452", "quantity": q, "unit": "EA"})
	}
	return map[string]any{"po_number": po, "ship_to": shipTo, "requested_date": requested, "lines": lines}
}

// waitState polls GET /v1/orders/{po} until the order has the state.
func (ts *testService) waitState(account, po, state string) map[string]any {
	ts.t.Helper()
	var got map[string]any
	bustest.CheckFor(ts.t, 10*time.Second, func() error {
		code, body := ts.do("GET", "/v1/orders/"+po, "key-"+account, "", nil)
		if code != http.StatusOK || body["state"] != state {
			return fmt.Errorf("GET order %s of %s = %d %v, want state %s", po, account, code, body, state)
		}
		got = body
		return nil
	})
	return got
}

// do sends a request with an API key and decodes the JSON answer.
func (ts *testService) do(method, path, key, contentType string, body []byte) (int, map[string]any) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+path, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return hubtest.Do(ts.t, req, key)
}
