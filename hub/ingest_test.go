package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	_ "github.com/crossdock/crossdock/adapters/all"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// interchange wraps X12 transaction sets (segments without terminators) in
// ISA/GS/GE/IEA with control number ctl.
func interchange(functional string, ctl int, sets ...[]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*%09d*0*P*>~\n", "", "", "PARTNER", "CROSSDOCK", ctl)
	fmt.Fprintf(&b, "GS*%s*PARTNER*CROSSDOCK*20261124*0900*%d*X*004010~\n", functional, ctl)
	for _, s := range sets {
		for _, seg := range s {
			b.WriteString(seg + "~\n")
		}
	}
	fmt.Fprintf(&b, "GE*%d*%d~\nIEA*1*%09d~\n", len(sets), ctl, ctl)
	return []byte(b.String())
}

// po850 is an 850 transaction set for one line of 24 EA.
func po850(ctl, po, shipTo, gtin string) []string {
	requested := time.Now().UTC().AddDate(0, 0, 30).Format("20060102")
	segs := []string{"ST*850*" + ctl, "BEG*00*SA*" + po + "**20261124", "DTM*002*" + requested,
		"N1*ST*DC*UL*" + shipTo, "PO1*1*24*EA*6.30**UK*" + gtin, "CTT*1"}
	return append(segs, fmt.Sprintf("SE*%d*%s", len(segs)+1, ctl))
}

func TestIngestX12OverHTTP(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	placed := h.watch(bus.IntakePrefix + "xd.in.acme.order.placed")
	accepted := h.watch("xd.out.acme.order.accepted")
	file := interchange("PO", 101, po850("0001", "X-1", dcEast, "00614141123452"), po850("0002", "X-2", acmeStore, "00614141123452"))

	status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", file)
	if status != http.StatusAccepted {
		t.Fatalf("POST /v1/ingest/x12 = %d %v", status, body)
	}
	ids := body["accepted"].([]any)
	if len(ids) != 2 {
		t.Fatalf("accepted %v, want two ids", ids)
	}
	for range 2 {
		ev := next(t, placed)
		if data := dataOf(t, ev); !strings.HasPrefix(data["po_number"].(string), "X-") {
			t.Errorf("order.placed data %v", data)
		}
		if ev.Source() != "/accounts/acme" || bus.Account(ev) != "acme" {
			t.Errorf("event source %s account %s", ev.Source(), bus.Account(ev))
		}
	}
	for range 2 {
		if ans := next(t, accepted); ans.Extensions()[bus.ExtCausationID] != ids[0] && ans.Extensions()[bus.ExtCausationID] != ids[1] {
			t.Errorf("order.accepted answers %v, not an ingested id %v", ans.Extensions()[bus.ExtCausationID], ids)
		}
	}

	t.Run("a resent interchange with new control numbers is no second order", func(t *testing.T) {
		again := interchange("PO", 102, po850("0101", "X-1", dcEast, "00614141123452"), po850("0102", "X-2", acmeStore, "00614141123452"))
		status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", again)
		if status != http.StatusAccepted {
			t.Fatalf("resend = %d %v", status, body)
		}
		if fmt.Sprint(body["accepted"]) != fmt.Sprint(ids) {
			t.Errorf("resend accepted %v, first %v", body["accepted"], ids)
		}
		if n := h.count(bus.StreamIn, "xd.in.acme.order.placed"); n != 2 {
			t.Errorf("XD_IN holds %d orders after the resend, want 2", n)
		}
	})

	t.Run("a partly bad file stores the good set and names the bad one", func(t *testing.T) {
		file := interchange("PO", 103, po850("0001", "X-3", dcEast, "00614141123452"), po850("0002", "X-4", dcEast, "00614141123453"))
		status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", file)
		if status != http.StatusBadRequest {
			t.Fatalf("status %d %v, want 400", status, body)
		}
		if got := body["accepted"].([]any); len(got) != 1 {
			t.Errorf("accepted %v, want the one good set", got)
		}
		found := false
		for _, e := range body["errors"].([]any) {
			e := e.(map[string]any)
			if e["field"] == "ST 0002 (850) segment 5 PO1 element 07" && e["code"] == "parse_error" {
				found = true
			}
		}
		if !found {
			t.Errorf("no error names ST 0002 segment 5 PO1 element 07: %v", body["errors"])
		}
	})

	t.Run("an unknown format is 404 and names the known ones", func(t *testing.T) {
		status, body := h.post("/v1/ingest/edifact", key("acme"), "text/plain", []byte("UNA"))
		if status != http.StatusNotFound || !strings.Contains(fmt.Sprint(body["detail"]), "csv, cxml, x12") {
			t.Errorf("= %d %v", status, body)
		}
	})

	t.Run("a file without an API key is 401", func(t *testing.T) {
		if status, _ := h.post("/v1/ingest/x12", "", "application/edi-x12", file); status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", status)
		}
	})

	t.Run("an account cannot send a warehouse's 856", func(t *testing.T) {
		status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", interchange("SH", 104, []string{"ST*856*0001", "BSN*00*S1*20261124*0900", "SE*3*0001"}))
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["errors"]), "accounts do not send 856") {
			t.Errorf("= %d %v", status, body)
		}
	})
}

func TestIngestCSVAndCXMLOverHTTP(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	placed := h.watch(bus.IntakePrefix + "xd.in.umbrella.order.placed")
	date := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	file := "\ufeffpo_number;ship_to;requested_date;gtin;quantity;unit\r\n" +
		"U-7;" + stableDC + ";" + date + ";00614141123452;300;EA\r\n" +
		"U-7;" + stableDC + ";" + date + ";614141123452;200,5;KGM\r\n"
	status, body := h.post("/v1/ingest/csv", key("umbrella"), "text/csv", []byte(file))
	if status != http.StatusAccepted {
		t.Fatalf("= %d %v", status, body)
	}
	data := dataOf(t, next(t, placed))
	if lines := data["lines"].([]any); len(lines) != 2 || lines[1].(map[string]any)["quantity"] != 200.5 {
		t.Errorf("lines = %v", data["lines"])
	}

	status, body = h.post("/v1/ingest/csv", key("umbrella"), "text/csv", []byte("po_number,ship_to,requested_date,gtin,quantity\nU-8,"+stableDC+","+date+",00614141123452,lots\n"))
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["errors"]), "line 2 column quantity") {
		t.Errorf("bad quantity = %d %v", status, body)
	}

	acme := h.watch(bus.IntakePrefix + "xd.in.acme.order.placed")
	cx := `<?xml version="1.0"?><cXML payloadID="p1" timestamp="2026-11-24T09:00:00Z"><Request><OrderRequest>
<OrderRequestHeader orderID="CX-1" type="new"><ShipTo><Address addressID="` + dcEast + `" addressIDDomain="GLN"/></ShipTo></OrderRequestHeader>
<ItemOut quantity="6" lineNumber="1" requestedDeliveryDate="` + date + `"><ItemID><IdReference domain="GTIN" identifier="00614141123452"/></ItemID>
<ItemDetail><UnitOfMeasure>EA</UnitOfMeasure></ItemDetail></ItemOut></OrderRequest></Request></cXML>`
	if status, body := h.post("/v1/ingest/cxml", key("acme"), "text/xml", []byte(cx)); status != http.StatusAccepted {
		t.Fatalf("cxml = %d %v", status, body)
	}
	if data := dataOf(t, next(t, acme)); data["po_number"] != "CX-1" {
		t.Errorf("cXML order %v", data)
	}
}

func TestIngestWarehouse856ShipsTheOrder(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "w-1", order{PO: "W-1", ShipTo: dcEast, Units: []float64{4}})
	orderID := dataOf(t, next(t, accepted))["order_id"].(string)

	forwarded := h.watch("xd.out.acme.shipment.dispatched")
	asn := []string{"ST*856*0001", "BSN*00*ASN-1*20261124*0900", "HL*1**S", "TD5**2*UPSN", "REF*OQ*" + orderID,
		"N1*ST*ACME DC*UL*" + dcEast, "HL*2*1*I", "LIN*1*UK*00614141123452", "SN1**4*EA", "CTT*2", "SE*11*0001"}
	status, body := h.post("/v1/ingest/x12", key("dc-east"), "application/edi-x12", interchange("SH", 201, asn))
	if status != http.StatusAccepted {
		t.Fatalf("= %d %v", status, body)
	}
	ev := next(t, forwarded)
	if ev.Source() != "/warehouses/dc-east" || dataOf(t, ev)["order_id"] != orderID {
		t.Errorf("forwarded %s from %s", ev.Data(), ev.Source())
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, o := h.get("/v1/orders/W-1", key("acme")); o["state"] != "shipped" {
			return fmt.Errorf("order state %v, want shipped", o["state"])
		}
		return nil
	})
}

func TestIngestOverNATS(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	js, err := jetstream.New(h.connect("acme"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("a file on xd.raw becomes events on xd.in", func(t *testing.T) {
		placed := h.watch(bus.IntakePrefix + "xd.in.acme.order.placed")
		if _, err := js.Publish(ctx, "xd.raw.acme.x12", interchange("PO", 301, po850("0001", "N-1", dcEast, "00614141123452"))); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if data := dataOf(t, next(t, placed)); data["po_number"] != "N-1" {
			t.Errorf("order.placed %v", data)
		}
	})

	t.Run("a bad file is answered, dead-lettered as sent, and its good sets still stored", func(t *testing.T) {
		placed := h.watch(bus.IntakePrefix + "xd.in.acme.order.placed")
		rejected := h.watch("xd.out.acme.event.rejected")
		file := interchange("PO", 302, po850("0001", "N-2", dcEast, "00614141123452"), po850("0002", "N-3", "0614141000099", "00614141123452"))
		msg := &nats.Msg{Subject: "xd.raw.acme.x12", Header: nats.Header{"Nats-Msg-Id": {"acme:file-302"}}, Data: file}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if data := dataOf(t, next(t, placed)); data["po_number"] != "N-2" {
			t.Errorf("order.placed %v, want N-2", data)
		}
		rej := dataOf(t, next(t, rejected))
		if rej["rejected_id"] != "acme:file-302" || rej["rejected_type"] != "x12" {
			t.Errorf("rejected %v %v", rej["rejected_id"], rej["rejected_type"])
		}
		if !strings.Contains(fmt.Sprint(rej["errors"]), "ST 0002 (850) segment 4 N1 element 04") {
			t.Errorf("errors %v do not name the bad GLN", rej["errors"])
		}
		dl := h.lastDLQ(t, "xd.dlq.acme.parse_error")
		if string(dl.Data) != string(file) || dl.Header.Get(bus.HeaderDLQSubject) != "xd.raw.acme.x12" {
			t.Errorf("DLQ %s %v, want the original file from xd.raw.acme.x12", dl.Data, dl.Header)
		}
	})
}

func TestWarehouseFileOverNATSNamesItsAccountInAHeader(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "w-3", order{PO: "W-3", ShipTo: dcEast, Units: []float64{2}})
	orderID := dataOf(t, next(t, accepted))["order_id"].(string)
	forwarded := h.watch("xd.out.acme.shipment.dispatched")
	js, err := jetstream.New(h.connect("dc-east"))
	if err != nil {
		t.Fatal(err)
	}
	asn := []string{"ST*856*0001", "BSN*00*ASN-N*20261124*0900", "HL*1**S", "REF*OQ*" + orderID,
		"HL*2*1*I", "LIN*1*UK*00614141123452", "SN1**2*EA", "SE*8*0001"}
	msg := &nats.Msg{Subject: "xd.raw.wh.dc-east.x12", Header: nats.Header{"Crossdock-Account": {"acme"}}, Data: interchange("SH", 501, asn)}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ev := next(t, forwarded); ev.Source() != "/warehouses/dc-east" || dataOf(t, ev)["shipment_id"] != "ASN-N" {
		t.Errorf("forwarded %s from %s", ev.Data(), ev.Source())
	}
}

func TestAdaptersAreListed(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	status, body := h.get("/v1/adapters", "")
	if status != http.StatusOK {
		t.Fatalf("= %d", status)
	}
	var formats []string
	for _, a := range body["adapters"].([]any) {
		a := a.(map[string]any)
		formats = append(formats, a["format"].(string)+" "+a["http"].(string))
	}
	if got := strings.Join(formats, ", "); got != "csv /v1/ingest/csv, cxml /v1/ingest/cxml, x12 /v1/ingest/x12" {
		t.Errorf("adapters = %s", got)
	}
}

func TestIngestX12AnswersWithA997(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	file := interchange("PO", 401, po850("0001", "A-1", dcEast, "00614141123452"), po850("0002", "A-2", dcEast, "00614141123453"))
	status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", file)
	if status != http.StatusBadRequest {
		t.Fatalf("= %d %v", status, body)
	}
	ack, _ := body["acknowledgment"].(string)
	for _, want := range []string{"ST*997*", "AK1*PO*401~", "AK2*850*0001~\nAK5*A~", "AK2*850*0002~\nAK3*PO1*5**8~\nAK5*R*5~", "AK9*P*2*2*1~"} {
		if !strings.Contains(ack, want) {
			t.Errorf("997 lacks %q:\n%s", want, ack)
		}
	}
}

func TestIngestWarehouseNamesTheAccount(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	h.sendOrder("acme", "w-2", order{PO: "W-2", ShipTo: dcEast, Units: []float64{4}})
	orderID := dataOf(t, next(t, accepted))["order_id"].(string)
	forwarded := h.watch("xd.out.acme.shipment.dispatched")
	// No N1 ST: the warehouse names the account in the query.
	asn := []string{"ST*856*0001", "BSN*00*ASN-9*20261124*0900", "HL*1**S", "REF*OQ*" + orderID,
		"HL*2*1*I", "LIN*1*UK*00614141123452", "SN1**4*EA", "SE*8*0001"}
	status, body := h.post("/v1/ingest/x12?account=acme", key("dc-east"), "application/edi-x12", interchange("SH", 402, asn))
	if status != http.StatusAccepted {
		t.Fatalf("= %d %v", status, body)
	}
	if ev := next(t, forwarded); bus.Account(ev) != "acme" {
		t.Errorf("shipment for account %q", bus.Account(ev))
	}
}
