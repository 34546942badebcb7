package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/lanes"
)

// TestABulkRequestWaitsForThePriorityLane: with strict priority, a stable
// account's request is checked and stored only once the process has no
// priority work in hand.
func TestABulkRequestWaitsForThePriorityLane(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gov := lanes.NewGovernor(lanes.GovernorConfig{Slots: 1})
	gw := New(e.bus, e.reg, intake.NewChecker(e.reg, e.schemas, 0), nil, gov, bustest.Logger(t))
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)

	leave := gov.Enter(context.Background(), accounts.Priority)
	body := mustJSON(t, newEvent(t, "po-1", "order.placed", "/accounts/umbrella", "", map[string]any{"po_number": "U-1", "ship_to": "0614141000029",
		"requested_date": "2026-04-01", "lines": []any{map[string]any{"line": 1, "gtin": "00614141123452", "quantity": 6, "unit": "EA"}}}))
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keyUmbrella)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("the stable account's request was answered %d while a priority event was at work", code)
	case <-time.After(200 * time.Millisecond):
	}
	leave()
	select {
	case code := <-answered:
		if code != http.StatusAccepted {
			t.Errorf("the stable account's request was answered %d, want 202", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stable account's request was not answered once the priority lane was idle")
	}
}
