package scorecard

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/orders"
)

// scoreServer is the scorecard's handler on a real listener, over a real
// embedded NATS server seeded with the fixture: acme's orders in the orders
// bucket and its replenishments in XD_OUT, plus orders of two other accounts.
func scoreServer(t *testing.T) string {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	reg := accountstest.Registry(t, b, fmt.Sprintf(`warehouses: [{id: dc-east, api_keys: [%q]}]
accounts:
  - {id: acme, tier: strategic, api_keys: [%q], locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]}
  - {id: umbrella, tier: stable, api_keys: [%q], locations: [{gln: "0614141000050", type: dc, warehouse: dc-east}]}
`, accounts.HashKey("key-dc-east"), accounts.HashKey("key-acme"), accounts.HashKey("key-umbrella")))
	svc, err := orders.New(ctx, orders.Config{}, b, reg, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := b.JetStream().KeyValue(ctx, orders.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	put := func(o *orders.Order) {
		v, _ := json.Marshal(o)
		if _, err := kv.Put(ctx, "po."+o.Account+"."+base64.RawURLEncoding.EncodeToString([]byte(o.PONumber)), v); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range fixtureOrders() {
		put(o)
	}
	// umbrella placed one order in the week, rejected; its card must not
	// see acme's, nor acme's its.
	other := rejectedOrder("U1", at(18, 9), "outside_order_window")
	other.Account = "umbrella"
	put(other)

	var outs []bus.Outgoing
	for _, r := range fixtureReplenishments() {
		outs = append(outs, replenishmentEvent(t, "requested-"+r.ID, "replenishment.requested", r.RequestedAt, map[string]any{
			"replenishment_id": r.ID, "location": r.Location, "gtin": r.GTIN, "quantity": 12,
			"reason": map[string]any{"position": 3, "reorder_point": 10, "target": 40}}))
		if !r.ShippedAt.IsZero() {
			outs = append(outs, replenishmentEvent(t, "shipped-"+r.ID, "shipment.dispatched", r.ShippedAt, map[string]any{
				"shipment_id": "S-" + r.ID, "replenishment_id": r.ID, "lines": []map[string]any{{"gtin": r.GTIN, "quantity": 12}}}))
		}
	}
	// A second shipment of R1, later, changes nothing: the first counts.
	outs = append(outs, replenishmentEvent(t, "shipped-R1-again", "shipment.dispatched", at(24, 0), map[string]any{
		"shipment_id": "S-R1b", "replenishment_id": "R1", "lines": []map[string]any{{"gtin": "X", "quantity": 1}}}))
	if _, err := b.Publish(ctx, outs...); err != nil {
		t.Fatal(err)
	}

	sc := New(Config{Now: func() time.Time { return asOf }}, svc, b, reg, bustest.Logger(t))
	srv := httptest.NewServer(sc.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func replenishmentEvent(t *testing.T, id, name string, at time.Time, data any) bus.Outgoing {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(bus.Type(name))
	ev.SetSource("/crossdock/vmi")
	ev.SetTime(at)
	ev.SetExtension(bus.ExtAccount, "acme")
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	return bus.Outgoing{Subject: bus.OutSubject("acme", name), Event: &ev}
}

func get(t *testing.T, url, key, accept string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestScorecardEndpoint(t *testing.T) {
	base := scoreServer(t)

	t.Run("acme's week shows the fixture's figures", func(t *testing.T) {
		code, body := get(t, base+"/v1/scorecard?period=week&from=2026-11-18", "key-acme", "")
		if code != http.StatusOK {
			t.Fatalf("GET = %d %s", code, body)
		}
		var c Card
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		o := c.Orders
		if c.Label != "2026-W47" || !c.From.Equal(weekFrom) || o.Placed != 7 || o.Rejected != 2 || !near(o.FillRate, 150.0/210) || !near(o.OnTimeRate, 0.5) ||
			!near(o.CycleHours.P90, 48) || o.TopRejectionReasons[0] != (Reason{"ship_to_not_dc", 2}) {
			t.Errorf("card = %s", body)
		}
		if c.VMI == nil || c.VMI.Requested != 3 || c.VMI.Shipped != 2 || c.VMI.DaysBelowReorderPoint != 8 || !near(c.VMI.LeadHours.P50, 12) {
			t.Errorf("vmi = %+v", c.VMI)
		}
	})
	t.Run("the week defaults to the clock's", func(t *testing.T) {
		_, body := get(t, base+"/v1/scorecard", "key-acme", "")
		var c Card
		_ = json.Unmarshal([]byte(body), &c)
		if c.Label != "2026-W48" || c.Orders.Placed != 1 { // H, placed Monday the 23rd
			t.Errorf("default card = %s", body)
		}
	})
	t.Run("the month counts every order of November", func(t *testing.T) {
		_, body := get(t, base+"/v1/scorecard?period=month&from=2026-11-01", "key-acme", "")
		var c Card
		_ = json.Unmarshal([]byte(body), &c)
		if c.Label != "2026-11" || c.Orders.Placed != 9 {
			t.Errorf("month card = %s", body)
		}
	})
	t.Run("another account sees only its own orders and, without VMI, no VMI figures", func(t *testing.T) {
		_, body := get(t, base+"/v1/scorecard?period=week&from=2026-11-18", "key-umbrella", "")
		var c Card
		_ = json.Unmarshal([]byte(body), &c)
		if c.Account != "umbrella" || c.Orders.Placed != 1 || c.Orders.Rejected != 1 || c.VMI != nil || c.Orders.TopRejectionReasons[0].Code != "outside_order_window" {
			t.Errorf("umbrella's card = %s", body)
		}
	})
	t.Run("CSV has one figure per row", func(t *testing.T) {
		code, body := get(t, base+"/v1/scorecard?period=week&from=2026-11-18", "key-acme", "text/csv")
		if code != http.StatusOK {
			t.Fatalf("GET csv = %d %s", code, body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rows {
			got[r[0]] = r[1]
		}
		for k, want := range map[string]string{"metric": "value", "account": "acme", "label": "2026-W47", "orders.placed": "7", "orders.on_time_rate": "0.5",
			"orders.top_rejection_reasons.1.code": "ship_to_not_dc", "vmi.days_below_reorder_point": "8", "orders.cycle_time_hours.p50": "24"} {
			if got[k] != want {
				t.Errorf("csv %s = %q, want %q\n%s", k, got[k], want, body)
			}
		}
	})
	for _, tc := range []struct {
		name, query, key string
		status           int
	}{
		{"no key is refused", "?period=week", "", 401},
		{"a warehouse's key is refused", "?period=week", "key-dc-east", 401},
		{"an unknown period is refused", "?period=year", "key-acme", 400},
		{"a malformed from is refused", "?from=last-week", "key-acme", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := get(t, base+"/v1/scorecard"+tc.query, tc.key, ""); code != tc.status {
				t.Errorf("GET %s = %d %s, want %d", tc.query, code, body, tc.status)
			}
		})
	}
}
