package hub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

func TestOrderCheckIsServedWithTheOrdersAPI(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	good, _ := json.Marshal(order{PO: "PO-CHECK", ShipTo: dcEast, Units: []float64{3}}.Data())
	if code, body := h.post("/v1/orders/check", key("acme"), "application/json", good); code != http.StatusOK || body["decision"] != "accept" {
		t.Errorf("POST /v1/orders/check (acme, good) = %d %v, want 200 accept", code, body)
	}
	bad, _ := json.Marshal(order{PO: "PO-CHECK", ShipTo: stableShop, Units: []float64{3}}.Data())
	code, body := h.post("/v1/orders/check", key("umbrella"), "application/json", bad)
	if code != http.StatusOK || body["decision"] != "reject" {
		t.Fatalf("POST /v1/orders/check (umbrella, store) = %d %v, want 200 reject", code, body)
	}
	if code, _ := h.get("/v1/orders/PO-CHECK", key("acme")); code != http.StatusNotFound {
		t.Errorf("GET the checked PO = %d, want 404: a check stores nothing", code)
	}
}

func TestOrderTimelineAcrossChannelsEDIAndRFID(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	docs := h.watch("xd.out.acme.edi.document")
	h.sendOrder("acme", "tl-1", order{PO: "TL-1", ShipTo: dcEast, Units: []float64{24}})
	acc := next(t, accepted)
	doc855 := next(t, docs)

	// The shipment leaves dc-east on a pallet with SSCC 0 0614141 123456789 6,
	// whose SSCC-96 tag is read at acme's DC.
	sscc := "006141411234567896"
	shipment, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "tl-ship-1", "source": "/warehouses/dc-east", "account": "acme",
		"type": "crossdock.shipment.dispatched.v1", "datacontenttype": "application/json",
		"data": map[string]any{"shipment_id": "S-TL-1", "order_id": dataOf(t, acc)["order_id"], "carrier": "UPS", "sscc": sscc,
			"lines": []map[string]any{{"line": 1, "gtin": "00614141123452", "quantity": 24}}},
	})
	if code, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", shipment); code != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", code, body)
	}
	doc856 := next(t, docs)
	pallet, err := epc.EPC{Scheme: epc.SSCC96, Filter: 0, CompanyPrefix: "0614141", Reference: "0123456789"}.Hex()
	if err != nil {
		t.Fatal(err)
	}
	h.sendReads("acme", "tl-reads-1", "dock-reader", dcEast, []rfidRead{{EPC: pallet, Time: time.Now().UTC()}})

	var got map[string]any
	bustest.CheckFor(t, 10*time.Second, func() error {
		code, body := h.get("/v1/orders/TL-1", key("acme"))
		kinds := []string{}
		if code == http.StatusOK {
			for _, s := range body["timeline"].([]any) {
				kinds = append(kinds, s.(map[string]any)["kind"].(string))
			}
		}
		if !slices.Contains(kinds, "rfid_observed") || !slices.Contains(kinds, "shipped") {
			return fmt.Errorf("GET /v1/orders/TL-1 = %d, timeline %v", code, kinds)
		}
		got = body
		return nil
	})
	if got["channel"] != "api" {
		t.Errorf("channel = %v, want api", got["channel"])
	}
	var controls []string
	for _, s := range got["timeline"].([]any) {
		s := s.(map[string]any)
		switch s["kind"] {
		case "placed":
			if s["channel"] != "api" {
				t.Errorf("placed step %v, want channel api", s)
			}
		case "fulfillment_requested":
			if s["warehouse"] != "dc-east" {
				t.Errorf("fulfilment step %v, want dc-east", s)
			}
		case "shipped":
			if sh := s["shipment"].(map[string]any); sh["sscc"] != sscc || sh["carrier"] != "UPS" || sh["shipment_id"] != "S-TL-1" {
				t.Errorf("shipped step %v", s)
			}
		case "edi_document":
			d := s["document"].(map[string]any)
			controls = append(controls, fmt.Sprintf("%s*%09d", d["type"], int(d["control"].(float64))))
		case "rfid_observed":
			if o := s["observation"].(map[string]any); o["epc"] != "urn:epc:id:sscc:0614141.0123456789" {
				t.Errorf("rfid step %v", s)
			}
		}
	}
	// The control numbers the timeline names are those of the documents sent.
	for i, doc := range []string{string(doc855.Data()), string(doc856.Data())} {
		if i >= len(controls) {
			t.Fatalf("timeline documents %v, want an 855 and an 856", controls)
		}
		typ, ctl, _ := strings.Cut(controls[i], "*")
		if !strings.Contains(doc, "ST*"+typ+"*") || !strings.Contains(doc, "*"+ctl+"*") {
			t.Errorf("timeline names %s %s, but the document sent is:\n%s", typ, ctl, doc)
		}
	}

	// A CSV order is placed by the csv channel; the list shows both, to acme only.
	csv := "po_number,ship_to,requested_date,gtin,quantity,unit\nTL-CSV-1," + dcEast + "," + time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly) + ",00614141123452,5,EA\n"
	if code, body := h.post("/v1/ingest/csv", key("acme"), "text/csv", []byte(csv)); code != http.StatusAccepted {
		t.Fatalf("post csv: %d %v", code, body)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if code, body := h.get("/v1/orders/TL-CSV-1", key("acme")); code != http.StatusOK || body["channel"] != "csv" {
			return fmt.Errorf("GET /v1/orders/TL-CSV-1 = %d %v, want channel csv", code, body)
		}
		return nil
	})
	if code, body := h.get("/v1/orders?po=TL-", key("acme")); code != http.StatusOK || body["total"] != 2.0 {
		t.Errorf("GET /v1/orders?po=TL- (acme) = %d %v, want 2 orders", code, body)
	}
	if code, body := h.get("/v1/orders?po=TL-", key("globex")); code != http.StatusOK || body["total"] != 0.0 {
		t.Errorf("GET /v1/orders?po=TL- (globex) = %d %v, want none", code, body)
	}
	if code, _ := h.get("/v1/orders/TL-1", key("globex")); code != http.StatusNotFound {
		t.Errorf("globex GET acme's order = %d, want 404", code)
	}
}

func TestScorecardIsServedForTheCallingAccount(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	h.sendOrder("acme", "sc-1", order{PO: "SC-1", ShipTo: dcEast, Units: []float64{5}})
	// The card of the month the order was placed in, by the hub's record.
	var month string
	bustest.CheckFor(t, 10*time.Second, func() error {
		code, body := h.get("/v1/orders/SC-1", key("acme"))
		if code != http.StatusOK {
			return fmt.Errorf("GET /v1/orders/SC-1 = %d", code)
		}
		month = body["history"].([]any)[0].(map[string]any)["at"].(string)[:10]
		return nil
	})
	bustest.CheckFor(t, 10*time.Second, func() error {
		code, body := h.get("/v1/scorecard?period=month&from="+month, key("acme"))
		if o, _ := body["orders"].(map[string]any); code != http.StatusOK || o["placed"] != 1.0 {
			return fmt.Errorf("GET /v1/scorecard (acme) = %d %v, want one order placed", code, body)
		}
		return nil
	})
	if code, body := h.get("/v1/scorecard?period=month&from="+month, key("globex")); code != http.StatusOK || body["account"] != "globex" || body["orders"].(map[string]any)["placed"] != 0.0 {
		t.Errorf("GET /v1/scorecard (globex) = %d %v, want globex's empty card", code, body)
	}
}
