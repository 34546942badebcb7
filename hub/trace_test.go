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

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
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
	t.Parallel()
	h := startHub(t, t.TempDir())
	po := x12OrderShippedAndRead(t, h, "TRACE-1", 4711)
	hex, _ := ssccTag(t)
	want := []string{trace.KindRawFile, trace.KindIntake, trace.KindDecision, trace.KindFulfillment,
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
					if hop["causation_id"] == nil || hop["causation_id"] == "" {
						t.Errorf("the intake made from the file names no cause")
					}
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
			// The router hands the order to the orders service of its
			// process: it is never stored in a lane (XD_ROUTED).
			if got[trace.KindLane] != 0 {
				t.Errorf("%d lane hops, want none", got[trace.KindLane])
			}
			if got[trace.KindEPCIS] != 2 {
				t.Errorf("%d EPCIS hops, want 2 (the case at the dock, its item at the shelf)", got[trace.KindEPCIS])
			}
		})
	}
}

func TestTraceAnswersErrors(t *testing.T) {
	t.Parallel()
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

// po850WithNotes is po850 with MSG segments (free text, which the 850
// decoder does not read) until the set holds about size bytes.
func po850WithNotes(ctl, po, shipTo, gtin string, size int) []string {
	segs := po850(ctl, po, shipTo, gtin)
	segs = segs[:len(segs)-1] // without SE
	ctt := segs[len(segs)-1]
	segs = segs[:len(segs)-1]
	note := "MSG*" + strings.Repeat("N", 200)
	for n := 0; n < size; n += len(note) + 2 {
		segs = append(segs, note)
	}
	segs = append(segs, ctt)
	return append(segs, fmt.Sprintf("SE*%d*%s", len(segs)+1, ctl))
}

func TestTraceFindsAnX12FilePostedOverHTTP(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	accepted := h.watch("xd.out.acme.order.accepted")
	small := interchange("PO", 6101, po850("0611", "HTTP-1", dcEast, "00614141123452"))
	large := interchange("PO", 6102, po850WithNotes("0612", "HTTP-2", dcEast, "00614141123452", bus.FilePartSize+100_000))
	cases := []struct {
		name, po  string
		file      []byte
		isa, gs   string
		st, parts string
	}{
		{"a small file, stored whole", "HTTP-1", small, "000006101", "6101", "0611", ""},
		{"a file over a NATS message's size, stored in parts", "HTTP-2", large, "000006102", "6102", "0612", "2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", tc.file)
			if status != http.StatusAccepted || len(body["accepted"].([]any)) != 1 || body["acknowledgment"] == "" {
				t.Fatalf("POST /v1/ingest/x12 = %d %v, want 202 with one id and the 997", status, body)
			}
			next(t, accepted)
			for _, q := range []string{"isa=" + tc.isa[5:], "gs=" + tc.gs, "st=" + tc.st + "&account=acme", "po=" + tc.po} {
				status, body := h.get("/v1/admin/trace?"+q, adminToken)
				if status != http.StatusOK {
					t.Fatalf("GET /v1/admin/trace?%s = %d %v", q, status, body)
				}
				chains := body["chains"].([]any)
				if len(chains) != 1 || chains[0].(map[string]any)["po_number"] != tc.po {
					t.Fatalf("trace?%s: chains %v, want the one of %s", q, chains, tc.po)
				}
				hops := map[string]map[string]any{}
				var kinds []string
				for _, hp := range chains[0].(map[string]any)["hops"].([]any) {
					hop := hp.(map[string]any)
					kinds = append(kinds, hop["kind"].(string))
					hops[hop["kind"].(string)] = hop
				}
				if len(kinds) < 4 || kinds[0] != trace.KindRawFile || kinds[1] != trace.KindIntake {
					t.Fatalf("trace?%s: hops %v, want the raw file, then the intake, lane, decision…", q, kinds)
				}
				raw, intake := hops[trace.KindRawFile], hops[trace.KindIntake]
				d := raw["detail"].(map[string]any)
				if d["isa"] != tc.isa || d["gs"] != tc.gs || d["st"] != tc.st || d["channel"] != "api" || d["bytes"] != fmt.Sprint(len(tc.file)) {
					t.Errorf("trace?%s: raw file detail %v, want isa %s gs %s st %s channel api, %d bytes", q, d, tc.isa, tc.gs, tc.st, len(tc.file))
				}
				if tc.parts != "" && d["parts"] != tc.parts {
					t.Errorf("trace?%s: raw file in %v parts, want %s", q, d["parts"], tc.parts)
				}
				if raw["event_id"] == nil || raw["event_id"] == "" || intake["causation_id"] != raw["event_id"] {
					t.Errorf("trace?%s: the intake's causation_id %v does not name the file %v", q, intake["causation_id"], raw["event_id"])
				}
			}
		})
	}

	t.Run("the same file sent again is stored once and decoded once", func(t *testing.T) {
		rawBefore, placedBefore := h.count(bus.StreamRaw, "xd.raw.acme.x12"), h.count(bus.StreamIn, "xd.in.acme.order.placed")
		if rawBefore != 3 {
			t.Errorf("XD_RAW holds %d messages of acme's X12 files, want 3 (one small file, one in two parts)", rawBefore)
		}
		status, body := h.post("/v1/ingest/x12", key("acme"), "application/edi-x12", small)
		if status != http.StatusAccepted || len(body["accepted"].([]any)) != 1 {
			t.Fatalf("resend = %d %v, want 202 with the same id", status, body)
		}
		h.settled(bus.StreamRaw, "ingest")
		if n := h.count(bus.StreamRaw, "xd.raw.acme.x12"); n != rawBefore {
			t.Errorf("XD_RAW holds %d messages after the resend, want %d", n, rawBefore)
		}
		if n := h.count(bus.StreamIn, "xd.in.acme.order.placed"); n != placedBefore {
			t.Errorf("XD_IN holds %d order.placed after the resend, want %d", n, placedBefore)
		}
		// The raw consumer decoded none of the files the door had: it would
		// have sent a 997 (an edi.document for a receipt) to xd.out.
		receipts := 0
		err := bus.Scan(context.Background(), h.bus.JetStream(), bus.StreamOut, []string{"xd.out.acme.edi.document"}, bus.From{},
			func(m jetstream.Msg, _ uint64) bool {
				if m.Headers().Get("ce-"+adapters.ExtFor) == adapters.ForReceipt {
					receipts++
				}
				return true
			})
		if err != nil {
			t.Fatal(err)
		}
		if receipts != 0 {
			t.Errorf("%d receipts on xd.out: the raw consumer decoded files the door had decoded", receipts)
		}
	})

	t.Run("a client cannot mark its own file as decoded", func(t *testing.T) {
		placed := h.watch(bus.IntakePrefix + "xd.in.acme.order.placed")
		js, err := jetstream.New(h.connect("acme"))
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: "xd.raw.acme.x12", Header: nats.Header{bus.HeaderFileDecoded: {"api"}, "crossdock-file-id": {"forged"}},
			Data: interchange("PO", 6103, po850("0613", "NATS-FORGED", dcEast, "00614141123452"))}
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
		ev := next(t, placed)
		if data := dataOf(t, ev); data["po_number"] != "NATS-FORGED" {
			t.Errorf("order.placed %v, want NATS-FORGED decoded by the raw consumer", data)
		}
		if c, _ := ev.Extensions()[bus.ExtCausationID].(string); c == "" || c == "forged" {
			t.Errorf("causationid %q, want the file's id given by the hub", c)
		}
	})
}
