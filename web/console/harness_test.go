package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/rfid/epc"
	"github.com/crossdock/crossdock/web/webtest"

	_ "github.com/crossdock/crossdock/adapters/all"
	"github.com/crossdock/crossdock/gs1"
)

func TestMain(m *testing.M) { os.Exit(webtest.Main(m)) }

const (
	adminToken = "console-admin-token"
	dcEast     = "0614141000005" // acme's DC
	globexDC   = "0614141000029"
	acmeDock   = "urn:epc:id:sgln:0614141.00000.dock1"
	acmeShelf  = "urn:epc:id:sgln:0614141.00001.shelf7"
)

func key(id string) string { return "key-" + id }

// hook is acme's webhook: it records the ids it took and refuses with
// 503 while refuse is set.
type hook struct {
	srv    *httptest.Server
	refuse atomic.Bool
	mu     sync.Mutex
	ids    []string
}

func (h *hook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ids...)
}

// env is a hub with every service and the console, on random ports.
type env struct {
	t    *testing.T
	hub  *hub.Hub
	base string
	hook *hook
}

func start(t *testing.T) *env {
	t.Helper()
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.refuse.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.mu.Lock()
		h.ids = append(h.ids, r.Header.Get("ce-id"))
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	dir := t.TempDir()
	y := fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]}
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: "0614141000012", type: store, warehouse: dc-east}
    edi: {format: x12, interchange_id: ACMEEDI}
    webhook: {url: %q, secret: s3cret}
  - id: globex
    name: Globex
    tier: integrated
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
`, accounts.HashKey(key("dc-east")), accounts.HashKey(key("acme")), dcEast, h.srv.URL, accounts.HashKey(key("globex")), globexDC)
	if err := os.WriteFile(filepath.Join(dir, "accounts.yaml"), []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	hb, err := hub.Start(context.Background(), hub.Config{
		HTTP: "127.0.0.1:0", NATSListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Accounts: filepath.Join(dir, "accounts.yaml"), Services: []string{"all"}, AdminToken: adminToken,
		Replicas: 1, Fsync: "interval", WebhookAttempts: 1,
	}, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() {
		hb.Stop()
		if err := hb.Wait(); err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
	})
	return &env{t: t, hub: hb, base: "http://" + hb.HTTPAddr(), hook: h}
}

// post sends body with an API key and returns the status.
func (e *env) post(path, apiKey, contentType string, body []byte) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Logf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// order sends an order.placed for account in structured mode.
func (e *env) order(account, id, po, shipTo string, units float64) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account, "type": "crossdock.order.placed.v1",
		"datacontenttype": "application/json",
		"data": map[string]any{"po_number": po, "ship_to": shipTo, "requested_date": time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly),
			"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": units, "unit": "EA"}}},
	})
	if status := e.post("/v1/events", key(account), "application/cloudevents+json", b); status != http.StatusAccepted {
		e.t.Fatalf("order %s: %d", id, status)
	}
}

// deadLetters lists acme's dead letters through the operators' API.
func (e *env) deadLetters(code string) []ops.DeadLetter {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/admin/dlq?account=acme&code="+code, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		DeadLetters []ops.DeadLetter `json:"dead_letters"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.DeadLetters
}

// interchange wraps 850 sets in an ISA/GS envelope with control number ctl.
func interchange(ctl int, sets ...[]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*%09d*0*P*>~\n", "", "", "PARTNER", "CROSSDOCK", ctl)
	fmt.Fprintf(&b, "GS*PO*PARTNER*CROSSDOCK*20261124*0900*%d*X*004010~\n", ctl)
	for _, s := range sets {
		for _, seg := range s {
			b.WriteString(seg + "~\n")
		}
	}
	fmt.Fprintf(&b, "GE*%d*%d~\nIEA*1*%09d~\n", len(sets), ctl, ctl)
	return []byte(b.String())
}

// po850 is an 850 for one line of 24 EA.
func po850(ctl, po, shipTo string) []string {
	requested := time.Now().UTC().AddDate(0, 0, 30).Format("20060102")
	segs := []string{"ST*850*" + ctl, "BEG*00*SA*" + po + "**20261124", "DTM*002*" + requested,
		"N1*ST*DC*UL*" + shipTo, "PO1*1*24*EA*6.30**UK*00614141123452", "CTT*1"}
	return append(segs, fmt.Sprintf("SE*%d*%s", len(segs)+1, ctl))
}

// sscc is an SSCC-96 tag of the test company prefix: its hex and 18 digits.
func sscc(t *testing.T) (hex, digits string) {
	t.Helper()
	h, err := epc.EPC{Scheme: epc.SSCC96, CompanyPrefix: "0614141", Reference: "1234567890"}.Hex()
	if err != nil {
		t.Fatal(err)
	}
	body := "10614141234567890"
	return h, gs1.Complete(body)
}

// sgtin is an SGTIN-96 tag's hex.
func sgtin(t *testing.T, serial int) string {
	t.Helper()
	h, err := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(serial)}.Hex()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// reads posts one rfid.observed batch for acme.
func (e *env) reads(id, readPoint string, at time.Time, tags ...string) {
	e.t.Helper()
	var rs []map[string]any
	for _, tg := range tags {
		rs = append(rs, map[string]any{"epc": tg, "time": at.Format(time.RFC3339Nano)})
	}
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/accounts/acme",
		"type": "crossdock.rfid.observed.v1", "datacontenttype": "application/json",
		"data": map[string]any{"reader": "reader-" + id, "read_point": readPoint, "reads": rs}})
	if status := e.post("/v1/events", key("acme"), "application/cloudevents+json", b); status != http.StatusAccepted {
		e.t.Fatalf("reads %s: %d", id, status)
	}
}
