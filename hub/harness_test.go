package hub

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// Short names for hubtest's test accounts, used throughout the hub's tests.
const (
	adminToken = hubtest.AdminToken
	dcEast     = hubtest.DCEast
	acmeStore  = hubtest.AcmeStore
	globexDC   = hubtest.GlobexDC
	initechDC  = hubtest.InitechDC
	stableDC   = hubtest.StableDC
	stableShop = hubtest.StableShop
	heldDC     = hubtest.HeldDC
)

// key is the API key of an account or warehouse in the test file.
func key(id string) string { return hubtest.Key(id) }

func writeAccounts(t testing.TB, dir string, tiers map[string]string) string {
	t.Helper()
	return hubtest.WriteAccounts(t, dir, tiers)
}

// testHub is a hub started for one test, on random ports and temp storage.
type testHub struct {
	*Hub
	t    testing.TB
	cfg  Config
	base string // http://host:port
	run  *hubtest.Hub
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
	h, err := Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	run := hubtest.Attach(t, h)
	return &testHub{Hub: h, t: t, cfg: cfg, base: run.Base, run: run}
}

// stop stops the hub and waits for it; safe to call twice.
func (h *testHub) stop() { h.run.Stop() }

// watch returns the events published on subject from now on, as the hub's
// own connection sees them.
func (h *testHub) watch(subject string) <-chan *event.Event { return h.run.Watch(subject) }

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
	return h.run.Post(path, apiKey, contentType, body, headers...)
}

func (h *testHub) do(req *http.Request, apiKey, contentType string, headers ...string) (int, map[string]any) {
	h.t.Helper()
	return h.run.Do(req, apiKey, contentType, headers...)
}

// get fetches path with an API key.
func (h *testHub) get(path, apiKey string) (int, map[string]any) {
	h.t.Helper()
	return h.run.Get(path, apiKey)
}

// sendOrder posts an order.placed event in structured mode and requires 202.
func (h *testHub) sendOrder(account, id string, o order) {
	h.t.Helper()
	h.run.SendOrder(account, id, o)
}

// order is the data of an order.placed event.
type order = hubtest.Order

// orderEvent is a structured-mode order.placed CloudEvent.
func orderEvent(account, id string, o order) []byte { return hubtest.OrderEvent(account, id, o) }

// placedEvent is an order.placed event as a customer's ERP builds it for a
// NATS publish.
func placedEvent(t testing.TB, account, id string, o order) *event.Event {
	t.Helper()
	return hubtest.PlacedEvent(t, account, id, o)
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
	return h.run.Count(stream, subject)
}

// settled waits until a consumer has nothing pending or unacknowledged and
// returns its info.
func (h *testHub) settled(stream, durable string) *jetstream.ConsumerInfo {
	h.t.Helper()
	return bustest.Settled(h.t, h.bus, stream, durable, 0)
}
