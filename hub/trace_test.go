package hub

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/rfid/epc"
	"github.com/crossdock/crossdock/trace"
)

// ssccTag is the hex of an SSCC-96 of the test company prefix, and its 18 digits.
func ssccTag(t testing.TB) (hex, digits string) {
	t.Helper()
	e := epc.EPC{Scheme: epc.SSCC96, Filter: 0, CompanyPrefix: "0614141", Reference: "1234567890"}
	h, err := e.Hex()
	if err != nil {
		t.Fatal(err)
	}
	body := "1" + "0614141" + "234567890"
	return h, gs1.Complete(body)
}

// x12OrderShippedAndRead sends acme (an EDI account) an 850 over NATS,
// ships the order with an SSCC and reads the case and an item in it at the
// dock, then the item at the shelf. It returns the PO.
func x12OrderShippedAndRead(t *testing.T, h *testHub, po string, isa int) string {
	t.Helper()
	docs := h.watch("xd.out.acme.edi.document")
	accepted := h.watch("xd.out.acme.order.accepted")
	epcis := h.watch("xd.out.acme.epcis.captured")
	js, err := jetstream.New(h.connect("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), "xd.raw.acme.x12", interchange("PO", isa, po850("0001", po, dcEast, "00614141123452"))); err != nil {
		t.Fatal(err)
	}
	acc := next(t, accepted)
	next(t, docs) // the 997 or the 855, in either order
	next(t, docs)
	hex, sscc := ssccTag(t)
	shipment := []byte(fmt.Sprintf(`{"specversion":"1.0","id":"ship-%s","source":"/warehouses/dc-east","account":"acme",`+
		`"type":"crossdock.shipment.dispatched.v1","datacontenttype":"application/json","data":{"shipment_id":"S-%s",`+
		`"order_id":%q,"sscc":%q,"lines":[{"gtin":"00614141123452","quantity":24}]}}`, po, po, dataOf(t, acc)["order_id"], sscc))
	if status, body := h.post("/v1/events", key("dc-east"), "application/cloudevents+json", shipment); status != http.StatusAccepted {
		t.Fatalf("post shipment: %d %v", status, body)
	}
	next(t, docs) // the 856
	at := time.Now().UTC().Truncate(time.Millisecond)
	h.sendReads("acme", "read-dock-"+po, "reader-dock", acmeDock, []rfidRead{{EPC: hex, Time: at}, {EPC: tag(7), Time: at}})
	next(t, epcis)
	h.sendReads("acme", "read-shelf-"+po, "reader-shelf", acmeShelf, []rfidRead{{EPC: tag(7), Time: at.Add(time.Minute)}})
	next(t, epcis)
	return po
}

func TestTraceFollowsAnX12OrderToItsShipmentAndEPCIS(t *testing.T) {
	h := startHub(t, t.TempDir())
	po := x12OrderShippedAndRead(t, h, "TRACE-1", 4711)
	hex, _ := ssccTag(t)
	want := []string{trace.KindRawFile, trace.KindIntake, trace.KindLane, trace.KindDecision, trace.KindFulfillment,
		trace.KindEDI855, trace.KindShipment, trace.KindShipmentOut, trace.KindEDI856, trace.KindEPCIS}
	cases := []struct{ name, query string }{
		{"by PO number", "po=" + po},
		{"by PO number and account", "po=" + po + "&account=acme"},
		{"by interchange control number", "isa=4711"},
		{"by group control number", "gs=4711"},
		{"by the SSCC's hex EPC", "epc=" + hex},
		{"by the SSCC's URI", "epc=urn:epc:id:sscc:0614141.1234567890"},
		{"by the order.placed id", "id=" + "IDOF"},
	}
	var placedID string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.query
			if q == "id=IDOF" {
				if placedID == "" {
					t.Skip("no id from an earlier case")
				}
				q = "id=" + placedID
			}
			status, body := h.get("/v1/admin/trace?"+q, adminToken)
			if status != http.StatusOK {
				t.Fatalf("GET /v1/admin/trace?%s = %d %v", q, status, body)
			}
			chains := body["chains"].([]any)
			if len(chains) != 1 {
				t.Fatalf("%d chains, want 1: %v", len(chains), body)
			}
			c := chains[0].(map[string]any)
			if c["po_number"] != po || c["state"] == "" {
				t.Errorf("chain of %v (%v), want %s", c["po_number"], c["state"], po)
			}
			got := map[string]int{}
			var last time.Time
			for _, hp := range c["hops"].([]any) {
				hop := hp.(map[string]any)
				got[hop["kind"].(string)]++
				at, _ := time.Parse(time.RFC3339Nano, hop["time"].(string))
				if at.Before(last) {
					t.Errorf("hop %v is before the one before it", hop["kind"])
				}
				last = at
				if hop["kind"] == trace.KindRawFile {
					d := hop["detail"].(map[string]any)
					if d["isa"] != "000004711" || d["gs"] != "4711" || d["st"] != "0001" {
						t.Errorf("raw file control numbers %v", d)
					}
				}
				if hop["kind"] == trace.KindIntake {
					placedID = hop["event_id"].(string)
				}
				if hop["kind"] == trace.KindDecision && hop["delivery"] == nil {
					t.Errorf("the decision has no delivery state")
				}
			}
			for _, k := range want {
				if got[k] == 0 {
					t.Errorf("no %s hop: %v", k, got)
				}
			}
			if got[trace.KindEPCIS] != 2 {
				t.Errorf("%d EPCIS hops, want 2 (the case at the dock, its item at the shelf)", got[trace.KindEPCIS])
			}
		})
	}
}

func TestTraceAnswersErrors(t *testing.T) {
	h := startHub(t, t.TempDir())
	cases := []struct {
		name, query, key string
		status           int
	}{
		{"an unknown PO is 404", "po=NOPE", adminToken, 404},
		{"two keys at once are 400", "po=A&isa=1", adminToken, 400},
		{"no key is 400", "", adminToken, 400},
		{"a wildcard is 400", "po=A.*", adminToken, 400},
		{"a customer key is 401", "po=A", key("acme"), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := h.get("/v1/admin/trace?"+tc.query, tc.key); status != tc.status {
				t.Errorf("GET /v1/admin/trace?%s = %d, want %d: %v", tc.query, status, tc.status, body)
			}
		})
	}
}
