package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/delivery"
)

// webhookReceiver is a customer's endpoint that checks signatures and keeps
// what arrived.
type webhookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []http.Header // binary-mode deliveries
	digest [][]map[string]any
}

func newWebhookReceiver(t *testing.T, secret string) *webhookReceiver {
	rc := &webhookReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := delivery.Verify(r.Header.Get(delivery.HeaderSignature), secret, body, time.Now(), 0); err != nil {
			t.Errorf("webhook: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if r.Header.Get("Content-Type") == delivery.ContentTypeBatch {
			var evs []map[string]any
			if err := json.Unmarshal(body, &evs); err != nil {
				t.Errorf("digest: %v", err)
			}
			rc.digest = append(rc.digest, evs)
			return
		}
		rc.events = append(rc.events, r.Header.Clone())
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// withWebhooks adds webhooks to accounts of the test accounts file.
func withWebhooks(t *testing.T, dir string, hooks map[string]string) {
	t.Helper()
	path := writeAccounts(t, dir, nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for id, url := range hooks {
		entry := "  - id: " + id + "\n"
		y = strings.Replace(y, entry, entry+fmt.Sprintf("    webhook: {url: %q, secret: hook-secret}\n", url), 1)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.yaml"), []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveryPushesToWebhooksAndOperatorsCanFlushAndInspect(t *testing.T) {
	t.Parallel()
	rc := newWebhookReceiver(t, "hook-secret")
	dir := t.TempDir()
	withWebhooks(t, dir, map[string]string{"acme": rc.srv.URL + "/acme", "umbrella": rc.srv.URL + "/umbrella"})
	h := startHub(t, dir)

	h.sendOrder("acme", "hook-1", order{PO: "W-1", ShipTo: dcEast, Units: []float64{3}})
	bustest.CheckFor(t, 10*time.Second, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.events) == 0 {
			return fmt.Errorf("no webhook delivery yet")
		}
		return nil
	})
	rc.mu.Lock()
	got := rc.events[0]
	rc.mu.Unlock()
	if got.Get("ce-type") != "crossdock.order.accepted.v1" || got.Get("ce-causationid") != "hook-1" || got.Get("ce-account") != "acme" {
		t.Errorf("webhook got %v, want acme's order.accepted answering hook-1", got)
	}

	// umbrella is stable: batched, so its answer waits for the digest.
	h.sendOrder("umbrella", "hook-2", order{PO: "W-2", ShipTo: stableDC, Units: []float64{500}})
	var flushed map[string]any
	bustest.CheckFor(t, 10*time.Second, func() error {
		status, body := h.post("/v1/admin/delivery/flush?account=umbrella", adminToken, "", nil)
		if status != http.StatusOK {
			return fmt.Errorf("flush: %d %v", status, body)
		}
		if body["events"].(float64) == 0 {
			return fmt.Errorf("flush sent nothing yet")
		}
		flushed = body
		return nil
	})
	if flushed["posts"].(float64) != 1 {
		t.Errorf("flush answered %v, want one POST", flushed)
	}
	rc.mu.Lock()
	if len(rc.digest) != 1 || rc.digest[0][0]["type"] != "crossdock.order.accepted.v1" {
		t.Errorf("digests %v, want one with umbrella's order.accepted", rc.digest)
	}
	rc.mu.Unlock()

	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `crossdock_webhook_deliveries_total{outcome="delivered"}`) {
		t.Error("/metrics has no crossdock_webhook_deliveries_total for delivered events")
	}

	tests := []struct {
		name   string
		method string
		path   string
		token  string
		status int
	}{
		{name: "the DLQ is listed with the admin token", method: http.MethodGet, path: "/v1/admin/dlq?account=acme", token: adminToken, status: http.StatusOK},
		{name: "the DLQ is closed without it", method: http.MethodGet, path: "/v1/admin/dlq", token: "wrong", status: http.StatusUnauthorized},
		{name: "a dead letter that does not exist is 404", method: http.MethodGet, path: "/v1/admin/dlq/999999", token: adminToken, status: http.StatusNotFound},
		{name: "flushing a realtime account is a conflict", method: http.MethodPost, path: "/v1/admin/delivery/flush?account=acme", token: adminToken, status: http.StatusConflict},
		{name: "a replay without since is refused", method: http.MethodPost, path: "/v1/admin/replay", token: adminToken, status: http.StatusBadRequest},
		{name: "the accounts endpoints still answer", method: http.MethodGet, path: "/v1/admin/accounts/acme", token: adminToken, status: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, h.base+tc.path, strings.NewReader(`{"account":"acme"}`))
			if err != nil {
				t.Fatal(err)
			}
			if status, body := h.do(req, tc.token, "application/json"); status != tc.status {
				t.Errorf("%s %s = %d %v, want %d", tc.method, tc.path, status, body, tc.status)
			}
		})
	}
}

func TestAnEmergingAccountsExperimentMirrorsItsEvents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exp := "    experiments: [{name: showcase, types: [order.placed, order.accepted], share: 1}]\n"
	y := strings.Replace(string(b), "  - id: initech\n", "  - id: initech\n"+exp, 1)
	y = strings.Replace(y, "  - id: globex\n", "  - id: globex\n"+exp, 1) // integrated: experiments: none
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, dir)
	mirrored := h.watch("xd.exp.>")

	h.sendOrder("globex", "exp-g", order{PO: "EG-1", ShipTo: globexDC, Units: []float64{1}})
	h.sendOrder("initech", "exp-i", order{PO: "EI-1", ShipTo: initechDC, Units: []float64{1}})
	got := map[string]string{}
	for range 2 {
		ev := next(t, mirrored)
		got[ev.Type()] = bus.Account(ev)
	}
	want := map[string]string{"crossdock.order.placed.v1": "initech", "crossdock.order.accepted.v1": "initech"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mirrored %v, want initech's order.placed and order.accepted", got)
	}
	if n := h.count(bus.StreamOut, "xd.exp.globex.>"); n != 0 {
		t.Errorf("%d events of globex mirrored, want none (its tier has experiments: none)", n)
	}
	// The mirror's consumers are handed initech's events only.
	for durable, want := range map[string]string{"delivery-mirror-in": "xd.routed.*.initech.>", "delivery-mirror-out": "xd.out.initech.>"} {
		stream := bus.StreamOut
		if durable == "delivery-mirror-in" {
			stream = bus.StreamRouted
		}
		if got := h.settled(stream, durable).Config.FilterSubjects; !slices.Equal(got, []string{want}) {
			t.Errorf("%s filter %v, want [%s]", durable, got, want)
		}
	}
}

// TestFlushAnswersWithinItsWaitWhenTheEndpointNeverAnswers: the flush of a
// batched account whose endpoint hangs answers 202 within its wait, saying
// what was delivered and what is pending, instead of after minutes of
// retries; another account's order sent right after is accepted.
func TestFlushAnswersWithinItsWaitWhenTheEndpointNeverAnswers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	dir := t.TempDir()
	withWebhooks(t, dir, map[string]string{"umbrella": hang.URL + "/umbrella"})
	h := startHub(t, dir)
	// Cleanups run last first: the endpoint answers before the hub stops,
	// which would otherwise wait out the POST's 30 s timeout, and before
	// Close, which waits for handlers.
	t.Cleanup(func() { close(release) })

	accepted := h.watch("xd.out.umbrella.order.accepted")
	h.sendOrder("umbrella", "hang-1", order{PO: "H-1", ShipTo: stableDC, Units: []float64{500}})
	next(t, accepted)

	var status int
	var body map[string]any
	bustest.CheckFor(t, 10*time.Second, func() error {
		status, body = h.post("/v1/admin/delivery/flush?account=umbrella&wait=1s", adminToken, "", nil)
		if status == http.StatusConflict {
			return fmt.Errorf("flush: %d %v (the digest worker is not running yet)", status, body)
		}
		return nil
	})
	if status != http.StatusAccepted || body["done"] != false || body["events"] != float64(0) || body["pending"] != float64(1) {
		t.Errorf("flush = %d %v, want 202, done false, 0 events delivered and 1 pending", status, body)
	}
	if msg, _ := body["message"].(string); !strings.Contains(msg, "1 pending") {
		t.Errorf("flush message = %q, want it to say what is pending", msg)
	}
	// The worker is still retrying that digest: a second flush waits its
	// turn for no longer than its wait either.
	status, body = h.post("/v1/admin/delivery/flush?account=umbrella&wait=1s", adminToken, "", nil)
	if status != http.StatusAccepted || body["pending"] != float64(1) {
		t.Errorf("second flush = %d %v, want 202 with 1 pending", status, body)
	}
	if status, body := h.post("/v1/admin/delivery/flush?account=umbrella&wait=1h", adminToken, "", nil); status != http.StatusBadRequest {
		t.Errorf("flush with wait=1h = %d %v, want 400", status, body)
	}

	globex := h.watch("xd.out.globex.order.accepted")
	h.sendOrder("globex", "g-1", order{PO: "G-1", ShipTo: globexDC, Units: []float64{5}})
	next(t, globex)
}
