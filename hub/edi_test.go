package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
)

// TestEDIAccountsGetTheirAnswersAsX12 follows acme, whose accounts-file entry
// asks for X12: its acceptance, its rejection and its shipment are also
// written as 855s and an 856; umbrella, which asks for nothing, gets none.
func TestEDIAccountsGetTheirAnswersAsX12(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	docs := h.watch("xd.out.*.edi.document")
	accepted := h.watch("xd.out.acme.order.accepted")

	h.sendOrder("umbrella", "plain-1", order{PO: "PLAIN-1", ShipTo: stableDC, Units: []float64{100}})
	h.sendOrder("acme", "edi-1", order{PO: "EDI-1", ShipTo: dcEast, Units: []float64{24}})
	acc := next(t, accepted)
	doc := next(t, docs)
	if got := doc.Extensions()[bus.ExtCausationID]; got != acc.ID() {
		t.Errorf("855 answers %v, want the order.accepted %s", got, acc.ID())
	}
	if doc.Extensions()[adapters.ExtFor] != "order.accepted" || doc.Extensions()[adapters.ExtFormat] != "x12" {
		t.Errorf("document extensions %v", doc.Extensions())
	}
	if ct := doc.DataContentType(); ct != "application/edi-x12" {
		t.Errorf("datacontenttype %q, want application/edi-x12", ct)
	}
	x12 := string(doc.Data())
	for _, want := range []string{"ACMEEDI", "ST*855*", "BAK*00*AC*EDI-1*", "PO1*1*24*EA"} {
		if !strings.Contains(x12, want) {
			t.Errorf("855 lacks %q:\n%s", want, x12)
		}
	}

	h.sendOrder("acme", "edi-2", order{PO: "EDI-2", ShipTo: "0614141000999", Units: []float64{1}})
	if x12 := string(next(t, docs).Data()); !strings.Contains(x12, "BAK*00*RJ*EDI-2*") {
		t.Errorf("a rejected order's 855 is not a rejection:\n%s", x12)
	}

	shipment := []byte(fmt.Sprintf(`{"specversion":"1.0","id":"edi-ship-1","source":"/warehouses/dc-east","account":"acme",`+
		`"type":"crossdock.shipment.dispatched.v1","datacontenttype":"application/json","data":{"shipment_id":"S-EDI-1",`+
		`"order_id":%q,"lines":[{"gtin":"00614141123452","quantity":24}]}}`, dataOf(t, acc)["order_id"]))
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", shipment); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	if x12 := string(next(t, docs).Data()); !strings.Contains(x12, "ST*856*") || !strings.Contains(x12, "BSN*00*S-EDI-1*") {
		t.Errorf("the shipment's 856:\n%s", x12)
	}

	// Once the EDI consumer has nothing left, umbrella has no document: its
	// answers never even reach the consumer, which is filtered on acme's.
	info := h.settled(bus.StreamOut, "edi")
	if info.Delivered.Consumer != 3 {
		t.Errorf("the edi consumer was handed %d answers, want acme's 3 (umbrella's are not its business)", info.Delivered.Consumer)
	}
	if n := h.count(bus.StreamOut, "xd.out.umbrella.edi.document"); n != 0 {
		t.Errorf("umbrella, which asks for no EDI, got %d documents", n)
	}
}

// TestX12FileOverNATSIsAcknowledgedWithA997 sends an 850 interchange on
// xd.raw and expects the 997 back on the account's subjects.
func TestX12FileOverNATSIsAcknowledgedWithA997(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	docs := h.watch("xd.out.globex.edi.document")
	js, err := jetstream.New(h.connect("globex"))
	if err != nil {
		t.Fatal(err)
	}
	file := interchange("PO", 202, po850("0001", "G-997", globexDC, "00614141123452"))
	if _, err := js.Publish(context.Background(), "xd.raw.globex.x12", file); err != nil {
		t.Fatalf("publish: %v", err)
	}
	doc := next(t, docs)
	if doc.Extensions()[adapters.ExtFor] != adapters.ForReceipt {
		t.Errorf("edifor = %v, want receipt", doc.Extensions()[adapters.ExtFor])
	}
	x12 := string(doc.Data())
	for _, want := range []string{"ST*997*", "AK1*PO*202", "AK9*A*1*1*1"} {
		if !strings.Contains(x12, want) {
			t.Errorf("997 lacks %q:\n%s", want, x12)
		}
	}
}
