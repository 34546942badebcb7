package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/hub"
)

// TestAFullIntakeIsSaidOnTheForm: once XD_IN is at its limit
// (--stream-max-bytes), the order form says the hub's storage is full and
// to send it later (507 storage_full, Retry-After), not a failure to retry
// at once.
func TestAFullIntakeIsSaidOnTheForm(t *testing.T) {
	e := startWith(t, func(c *hub.Config) {
		c.StreamLimits = bus.StreamLimits{Streams: map[string]int64{bus.StreamIn: 8 << 10}}
	})
	requested := time.Now().UTC().AddDate(0, 0, 5)
	for i := 0; e.postOrder("acme", fmt.Sprint("FILL-", i), acmeDC, 5, requested) == http.StatusAccepted; i++ {
		if i > 1000 {
			t.Fatal("XD_IN is not full after 1000 orders")
		}
	}

	c := e.client()
	c.signInKey(key("acme"))
	c.get("/portal/place")
	form := url.Values{"po_number": {"PO-FULL"}, "ship_to": {acmeDC}, "requested_date": {requested.Format(time.DateOnly)},
		"gtin": {gtin}, "quantity": {"5"}, "unit": {"EA"}, "form_id": {"full-form"}}
	status, body, h := c.post("/portal/place", form)
	if status != http.StatusInsufficientStorage || h.Get("Retry-After") != "60" || !strings.Contains(body, "storage is full") {
		t.Errorf("placing while XD_IN is full = %d, Retry-After %q, want 507 with Retry-After 60 saying the storage is full:\n%s", status, h.Get("Retry-After"), body)
	}
}
