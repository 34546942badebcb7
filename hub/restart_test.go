package hub

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/crossdock/crossdock/bus"
)

// TestRestartKeepsOrders stops a hub cleanly and starts another on the same
// storage: the orders taken before are still there, state and history, and
// the new hub takes new orders.
func TestRestartKeepsOrders(t *testing.T) {
	t.Parallel()
	const n = 20
	dir := t.TempDir()
	h := startHub(t, dir)
	acceptedCh := h.watch("xd.out.acme.order.accepted")
	po := func(i int) string { return fmt.Sprintf("PO-RESTART-%02d", i) }
	id := func(i int) string { return fmt.Sprintf("restart-%02d", i) }
	for i := range n {
		h.sendOrder("acme", id(i), order{PO: po(i), ShipTo: dcEast, Units: []float64{3}})
	}
	seen := map[string]bool{}
	for len(seen) < n {
		ev := next(t, acceptedCh)
		cause, _ := ev.Extensions()[bus.ExtCausationID].(string)
		seen[cause] = true
	}
	before := make([]map[string]any, n)
	for i := range n {
		status, body := h.get("/v1/orders/"+po(i), key("acme"))
		if status != http.StatusOK {
			t.Fatalf("GET order %s before the restart: %d %v", po(i), status, body)
		}
		before[i] = body
	}

	h.stop()
	h = startHub(t, dir)

	for i := range n {
		if err := h.run.CheckAcceptedOnce("acme", po(i), id(i)); err != nil {
			t.Errorf("after the restart: %v", err)
			continue
		}
		_, body := h.get("/v1/orders/"+po(i), key("acme"))
		if got, want := body["order_id"], before[i]["order_id"]; got != want || got == "" {
			t.Errorf("order %s: order_id %v after the restart, %v before", po(i), got, want)
		}
		if got, want := fmt.Sprint(body["history"]), fmt.Sprint(before[i]["history"]); got != want {
			t.Errorf("order %s: history after the restart\n%s\nbefore\n%s", po(i), got, want)
		}
	}

	acceptedCh = h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "restart-new", order{PO: "PO-RESTART-NEW", ShipTo: dcEast, Units: []float64{3}})
	ev := next(t, acceptedCh)
	if cause, _ := ev.Extensions()[bus.ExtCausationID].(string); cause != "restart-new" {
		t.Errorf("order.accepted after the restart answers %q, want restart-new", cause)
	}
	if err := h.run.CheckAcceptedOnce("acme", "PO-RESTART-NEW", "restart-new"); err != nil {
		t.Error(err)
	}
}
