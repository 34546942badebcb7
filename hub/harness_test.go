package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
)

// Test accounts: one per tier, plus two stable accounts whose ordering days
// make their orders accepted (every day) or held (never today or tomorrow,
// so a test that runs over midnight still sees a hold).
const (
	adminToken = "test-admin"
	dcEast     = "0614141000005" // acme's DC
	acmeStore  = "0614141000012"
	globexDC   = "0614141000029"
	initechDC  = "0614141000043"
	stableDC   = "0614141000104" // umbrella's DC
	stableShop = "0614141000111" // umbrella's store
	heldDC     = "0614141000050" // later's DC
)

// key is the API key of an account or warehouse in the test file.
func key(id string) string { return "key-" + id }

func writeAccounts(t testing.TB, dir string, tiers map[string]string) string {
	t.Helper()
	today := time.Now().UTC().Weekday()
	var heldDays []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d != today && d != (today+1)%7 {
			heldDays = append(heldDays, strings.ToLower(d.String()[:3]))
		}
	}
	tier := func(id, def string) string {
		if t, ok := tiers[id]; ok {
			return t
		}
		return def
	}
	y := fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]}
  - {id: dc-west, api_keys: [%q]}
accounts:
  - id: acme
    name: ACME Retail
    tier: %s
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-west}
    edi: {format: x12, interchange_id: ACMEEDI}
  - id: globex
    name: Globex
    tier: %s
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
  - id: initech
    name: Initech
    tier: %s
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-west}]
  - id: umbrella
    name: Umbrella
    tier: %s
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-east}
    policy: {order_days: all}
  - id: later
    name: Later Ltd
    tier: stable
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-west}]
    policy: {order_days: [%s]}
`,
		accounts.HashKey(key("dc-east")), accounts.HashKey(key("dc-west")),
		tier("acme", "strategic"), accounts.HashKey(key("acme")), dcEast, acmeStore,
		tier("globex", "integrated"), accounts.HashKey(key("globex")), globexDC,
		tier("initech", "emerging"), accounts.HashKey(key("initech")), initechDC,
		tier("umbrella", "stable"), accounts.HashKey(key("umbrella")), stableDC, stableShop,
		accounts.HashKey(key("later")), heldDC, strings.Join(heldDays, ", "))
	path := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testHub is a hub started for one test, on random ports and temp storage.
type testHub struct {
	*Hub
	t    testing.TB
	cfg  Config
	base string // http://host:port

	mu      sync.Mutex
	durable map[string][]string // by stream, once listed (durables)
}

// startHub starts a hub with every service. dir holds its data and accounts
// file; pass the same dir to restart on the same storage.
func startHub(t testing.TB, dir string) *testHub {
	t.Helper()
	return startHubAt(t, dir, nil)
}

// startHubAt is startHub with the clock of the hub's scheduled work (nil:
// time.Now), for tests whose outcome would otherwise depend on the time of
// day.
func startHubAt(t testing.TB, dir string, now func() time.Time) *testHub {
	t.Helper()
	return startConfig(t, testConfig(t, dir, now))
}

// testConfig is the configuration startHubAt starts a hub with, for tests
// that change some of it; it writes the accounts file when dir has none.
func testConfig(t testing.TB, dir string, now func() time.Time) Config {
	t.Helper()
	cfg := Config{
		Now:        now,
		HTTP:       "127.0.0.1:0",
		NATSListen: "127.0.0.1:0",
		Data:       filepath.Join(dir, "data"),
		Accounts:   filepath.Join(dir, "accounts.yaml"),
		Services:   []string{"all"},
		AdminToken: adminToken,
		Replicas:   1,
		Fsync:      "interval",
	}
	if _, err := os.Stat(cfg.Accounts); err != nil {
		writeAccounts(t, dir, nil)
	}
	return cfg
}

func startConfig(t testing.TB, cfg Config) *testHub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	th := &testHub{Hub: h, t: t, cfg: cfg, base: "http://" + h.HTTPAddr()}
	t.Cleanup(th.stop)
	if err := h.bus.Ready(ctx); err != nil {
		t.Fatalf("hub not ready: %v", err)
	}
	return th
}

// stop stops the hub and waits for it; safe to call twice.
func (h *testHub) stop() {
	h.Stop()
	if err := h.Wait(); err != nil {
		h.t.Errorf("hub stopped with: %v", err)
	}
}

// watch returns the events published on subject from now on, as the hub's
// own connection sees them.
func (h *testHub) watch(subject string) <-chan *event.Event {
	return bustest.Watch(h.t, h.nc, subject)
}

// connect opens a NATS connection as a customer or warehouse, by API key.
func (h *testHub) connect(user string) *nats.Conn {
	h.t.Helper()
	prefix := "_INBOX_" + user
	if user == "dc-east" || user == "dc-west" {
		prefix = "_INBOX_wh_" + user
	}
	nc, err := nats.Connect(h.NATSURL(), nats.UserInfo(user, key(user)), nats.CustomInboxPrefix(prefix))
	if err != nil {
		h.t.Fatalf("connect as %s: %v", user, err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// post sends body to path with the given API key and headers, and returns
// the status and the decoded JSON answer.
func (h *testHub) post(path, apiKey, contentType string, body []byte, headers ...string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req, apiKey, contentType, headers...)
}

func (h *testHub) do(req *http.Request, apiKey, contentType string, headers ...string) (int, map[string]any) {
	h.t.Helper()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return hubtest.Do(h.t, req, apiKey)
}

// get fetches path with an API key.
func (h *testHub) get(path, apiKey string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req, apiKey, "")
}

// sendOrder posts an order.placed event in structured mode and requires 202.
func (h *testHub) sendOrder(account, id string, o order) {
	h.t.Helper()
	status, body := h.post("/v1/events", key(account), "application/cloudevents+json", orderEvent(account, id, o))
	if status != http.StatusAccepted {
		h.t.Fatalf("post order %s: %d %v", id, status, body)
	}
}

// order is the data of an order.placed event.
type order struct {
	PO        string
	ShipTo    string
	Requested string // YYYY-MM-DD; empty means 30 days ahead
	Units     []float64
	Pickup    string
}

func (o order) data() map[string]any {
	if o.Requested == "" {
		o.Requested = time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	}
	var lines []map[string]any
	for i, u := range o.Units {
		lines = append(lines, map[string]any{"line": i + 1, "gtin": "00614141123452", "quantity": u, "unit": "EA"})
	}
	d := map[string]any{"po_number": o.PO, "ship_to": o.ShipTo, "requested_date": o.Requested, "lines": lines}
	if o.Pickup != "" {
		d["pickup"] = o.Pickup
	}
	return d
}

// orderEvent is a structured-mode order.placed CloudEvent.
func orderEvent(account, id string, o order) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account,
		"type": "crossdock.order.placed.v1", "datacontenttype": "application/json",
		"data": o.data(),
	})
	return b
}

// shipmentEvent is a structured-mode shipment.dispatched of warehouse for
// account's order orderID (one line of four units).
func shipmentEvent(id, warehouse, account, orderID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/warehouses/" + warehouse, "account": account,
		"type": "crossdock.shipment.dispatched.v1", "datacontenttype": "application/json",
		"data": map[string]any{"shipment_id": "SHP-" + id, "order_id": orderID, "carrier": "UPS",
			"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": 4, "unit": "EA"}}},
	})
	return b
}

// next waits for the next event on ch.
func next(t testing.TB, ch <-chan *event.Event) *event.Event {
	t.Helper()
	return bustest.Next(t, ch, 10*time.Second)
}

// dataOf checks an event the hub made against its schema and decodes its data.
func dataOf(t testing.TB, ev *event.Event) map[string]any {
	t.Helper()
	return hubtest.DataOf(t, ev)
}

// count is the number of messages stored in stream on subject.
func (h *testHub) count(stream, subject string) uint64 {
	h.t.Helper()
	return bustest.Count(h.t, h.bus, stream, subject)
}

// settled waits until a consumer has nothing pending or unacknowledged and
// returns its info.
func (h *testHub) settled(stream, durable string) *jetstream.ConsumerInfo {
	h.t.Helper()
	return bustest.Settled(h.t, h.bus, stream, durable, 0)
}
