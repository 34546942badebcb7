package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

// The accounts of the test file (WriteAccounts), by location: one account
// per tier, plus two stable accounts whose ordering days make their orders
// accepted (every day) or held (never today or tomorrow, so a test that runs
// over midnight still sees a hold).
const (
	AdminToken = "test-admin"
	DCEast     = "0614141000005" // acme's DC
	AcmeStore  = "0614141000012"
	GlobexDC   = "0614141000029"
	InitechDC  = "0614141000043"
	StableDC   = "0614141000104" // umbrella's DC
	StableShop = "0614141000111" // umbrella's store
	HeldDC     = "0614141000050" // later's DC
)

// Key is the API key of an account or warehouse in the test file.
func Key(id string) string { return "key-" + id }

// WriteAccounts writes the test accounts file to dir/accounts.yaml, with
// the tiers of acme, globex, initech and umbrella overridden by tiers, and
// returns its path.
func WriteAccounts(t testing.TB, dir string, tiers map[string]string) string {
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
		accounts.HashKey(Key("dc-east")), accounts.HashKey(Key("dc-west")),
		tier("acme", "strategic"), accounts.HashKey(Key("acme")), DCEast, AcmeStore,
		tier("globex", "integrated"), accounts.HashKey(Key("globex")), GlobexDC,
		tier("initech", "emerging"), accounts.HashKey(Key("initech")), InitechDC,
		tier("umbrella", "stable"), accounts.HashKey(Key("umbrella")), StableDC, StableShop,
		accounts.HashKey(Key("later")), HeldDC, strings.Join(heldDays, ", "))
	path := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Order is the data of an order.placed event.
type Order struct {
	PO        string
	ShipTo    string
	Requested string // YYYY-MM-DD; empty means 30 days ahead
	Units     []float64
	Pickup    string
}

// Data is the order as the event's data.
func (o Order) Data() map[string]any {
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

// OrderEvent is a structured-mode order.placed CloudEvent, as posted over
// HTTP.
func OrderEvent(account, id string, o Order) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account,
		"type": "crossdock.order.placed.v1", "datacontenttype": "application/json",
		"data": o.Data(),
	})
	return b
}

// PlacedEvent is an order.placed event as a customer's ERP builds it for a
// NATS publish: no account attribute (the intake subject says who sent it).
func PlacedEvent(t testing.TB, account, id string, o Order) *event.Event {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetSource("/accounts/" + account)
	ev.SetType("crossdock.order.placed.v1")
	if err := ev.SetData(event.ApplicationJSON, o.Data()); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// PublishOrder publishes an order.placed in binary mode on the account's
// intake subject, asynchronously, with Nats-Msg-Id "<account>:<id>".
func PublishOrder(js jetstream.JetStream, account string, ev *event.Event) (jetstream.PubAckFuture, error) {
	msg := bus.Encode("xd.in."+account+".order.placed", ev)
	return js.PublishMsgAsync(msg, jetstream.WithMsgID(account+":"+ev.ID()))
}

// AwaitAck waits for one async publish's acknowledgement.
func AwaitAck(f jetstream.PubAckFuture, timeout time.Duration) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-time.After(timeout):
		return fmt.Errorf("no publish ack within %s", timeout)
	}
}

// Process is a started hub as its tests see it (*hub.Hub): declared here so
// that the hub's own tests can use this package too.
type Process interface {
	Bus() *bus.Bus
	HTTPAddr() string
	Stop()
	Wait() error
}

// Hub is a hub started for one test, reached over its HTTP API and through
// its own NATS connection.
type Hub struct {
	T    testing.TB
	Base string // http://host:port
	Bus  *bus.Bus
	p    Process
}

// Attach waits until p's JetStream answers and stops p when the test ends.
func Attach(t testing.TB, p Process) *Hub {
	t.Helper()
	h := &Hub{T: t, Base: "http://" + p.HTTPAddr(), Bus: p.Bus(), p: p}
	t.Cleanup(h.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Bus.Ready(ctx); err != nil {
		t.Fatalf("hub not ready: %v", err)
	}
	return h
}

// Stop stops the hub and waits for it, failing the test if it stopped with
// an error; safe to call twice.
func (h *Hub) Stop() {
	h.p.Stop()
	if err := h.p.Wait(); err != nil {
		h.T.Errorf("hub stopped with: %v", err)
	}
}

// Watch returns the events published on subject from now on, as the hub's
// own connection sees them.
func (h *Hub) Watch(subject string) <-chan *event.Event {
	return bustest.Watch(h.T, h.Bus.Conn(), subject)
}

// Post sends body to path with the given API key, content type and headers
// (name, value, ...), and returns the status and the decoded JSON answer.
func (h *Hub) Post(path, apiKey, contentType string, body []byte, headers ...string) (int, map[string]any) {
	h.T.Helper()
	req, err := http.NewRequest(http.MethodPost, h.Base+path, bytes.NewReader(body))
	if err != nil {
		h.T.Fatal(err)
	}
	return h.Do(req, apiKey, contentType, headers...)
}

// Do sends req with the API key, content type (none when empty) and
// headers, and returns the status and the decoded JSON answer.
func (h *Hub) Do(req *http.Request, apiKey, contentType string, headers ...string) (int, map[string]any) {
	h.T.Helper()
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return Do(h.T, req, apiKey)
}

// Get fetches path with an API key.
func (h *Hub) Get(path, apiKey string) (int, map[string]any) {
	h.T.Helper()
	req, err := http.NewRequest(http.MethodGet, h.Base+path, nil)
	if err != nil {
		h.T.Fatal(err)
	}
	return h.Do(req, apiKey, "")
}

// SendOrder posts an order.placed event in structured mode and requires 202.
func (h *Hub) SendOrder(account, id string, o Order) {
	h.T.Helper()
	status, body := h.Post("/v1/events", Key(account), "application/cloudevents+json", OrderEvent(account, id, o))
	if status != http.StatusAccepted {
		h.T.Fatalf("post order %s: %d %v", id, status, body)
	}
}

// Count is the number of messages stored in stream on subject.
func (h *Hub) Count(stream, subject string) uint64 {
	h.T.Helper()
	return bustest.Count(h.T, h.Bus, stream, subject)
}

// CheckAcceptedOnce fetches GET /v1/orders/{po} as account and checks that
// the order is accepted, once: one step of history, made by event id.
func (h *Hub) CheckAcceptedOnce(account, po, id string) error {
	status, body := h.Get("/v1/orders/"+po, Key(account))
	if status != http.StatusOK {
		return fmt.Errorf("GET /v1/orders/%s as %s: %d %v", po, account, status, body)
	}
	if body["state"] != "accepted" || body["placed_event_id"] != id {
		return fmt.Errorf("order %s: state %v, placed by %v; want accepted, placed by %s", po, body["state"], body["placed_event_id"], id)
	}
	if hist, _ := body["history"].([]any); len(hist) != 1 {
		return fmt.Errorf("order %s: history %v, want the one acceptance", po, body["history"])
	}
	return nil
}
