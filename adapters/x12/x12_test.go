package x12_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/adaptertest"
	"github.com/crossdock/crossdock/adapters/x12"
	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// owner finds the account of the test GLNs, as the hub's registry does.
func owner(gln string) (string, bool) {
	switch gln {
	case "0614141000005", "0614141000012":
		return "acme", true
	}
	return "", false
}

var fixed = x12.Config{Now: func() time.Time { return time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC) }}

func acct(t testing.TB, name string) adapters.Input {
	return adapters.Input{Account: "acme", Data: read(t, name)}
}

func wh(t testing.TB, name string) adapters.Input {
	return adapters.Input{Warehouse: "dc-west", AccountOf: owner, Data: read(t, name)}
}

func TestConformance(t *testing.T) {
	adaptertest.Run(t, x12.New(fixed), []adaptertest.Case{
		{Name: "two 850s in one interchange with CRLF after each segment are two orders", Input: acct(t, "acme-850.edi"), Events: 2},
		{Name: "the OfficeMax 850s with GLN ship-tos and newline terminators are three orders", Input: acct(t, "officemax-850-gln.edi"), Events: 3},
		{Name: "the OfficeMax 850s as published name their ship-tos by buyer codes, which is refused per set", Input: acct(t, "officemax-850.edi"),
			Fields: []string{"ST 0001 (850) segment 6 N1 element 03", "ST 0002 (850) segment 6 N1 element 03", "ST 0003 (850)"}},
		{Name: "the Modus 850s fail on a bad GLN check digit and a missing ship-to", Input: acct(t, "modus-850-multiple-sets.edi"),
			Fields: []string{"ST 000000123 (850) segment 12 N1 element 04", "ST 000000124 (850)"}},
		{Name: "an 852 with QA, QS and QO is one inventory report", Input: acct(t, "acme-852.edi"), Events: 1},
		{Name: "an 846 in version 00501 with repetition separator is one inventory report", Input: acct(t, "acme-846.edi"), Events: 1},
		{Name: "the Ingram Micro 856 with a GLN ship-to and REF OQ is one shipment", Input: wh(t, "wh-ingram-856-gln.edi"), Events: 1},
		{Name: "the Ingram Micro 856 as published has no GLN for its ship-to", Input: wh(t, "wh-ingram-856.edi"),
			Fields: []string{"ST 250500001 (856)"}},
		{Name: "a wrong SE count fails its set", Input: acct(t, "err-se-count.edi"), Fields: []string{"segment 9 SE element 01"}},
		{Name: "a truncated ISA fails the file", Input: acct(t, "err-truncated-isa.edi"), Fields: []string{"segment 1 ISA"}},
		{Name: "two 830s with weekly buckets for three items are two forecasts", Input: acct(t, "acme-830.edi"), Events: 2},
		{Name: "of four 830s, the one with a wrong SE count, the negative bucket and another account's ship-to fail, the good one is a forecast",
			Input:  adapters.Input{Account: "acme", AccountOf: owner, Data: read(t, "acme-830-errors.edi")},
			Events: 1, Fields: []string{"segment 14 SE element 01", "ST 0003 (830) segment 5 FST element 01", "ST 0004 (830) segment 3 N1 element 04"}},
	})
}

func TestGolden(t *testing.T) {
	adaptertest.Golden(t, x12.New(fixed), "testdata/[^w]*.edi", adapters.Input{Account: "acme"})
	adaptertest.Golden(t, x12.New(fixed), "testdata/wh-*.edi", adapters.Input{Warehouse: "dc-west", AccountOf: owner})
}

func TestEnvelopeErrorsSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		name, file, field, message string
	}{
		{"a wrong SE count names the count and the real one", "err-se-count.edi", "segment 9 SE element 01", "SE01 says 9 segments (ST and SE included), the envelope has 7"},
		{"an SE control number that differs from the ST's", "err-se-control.edi", "segment 9 SE element 02", `SE02 "0002" does not match ST02 "0001"`},
		{"a GE control number that differs from the GS's", "err-ge-control.edi", "segment 10 GE element 02", `GE02 "4602" does not match GS06 "4601"`},
		{"an IEA control number that differs from the ISA's", "err-iea-control.edi", "segment 11 IEA element 02", `IEA02 "000004699" does not match ISA13 "000004601"`},
		{"a truncated ISA", "err-truncated-isa.edi", "segment 1 ISA", "truncated ISA: 60 bytes, an ISA segment is 106 bytes with its terminator"},
		{"an ISA whose sender id is not padded", "err-isa-width.edi", "segment 1 ISA element 07", "the element separator '*' should be at byte 51"},
		{"a file cut inside a set", "err-cut-short.edi", "segment 7", "the file ends inside ST 0001: no SE, GE or IEA"},
	}
	a := x12.New(fixed)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := a.Decode(acct(t, tc.file))
			if len(evs) != 0 {
				t.Errorf("Decode made %d events; an envelope error fails its sets", len(evs))
			}
			for _, p := range adapters.Problems(err) {
				if p.Field == tc.field && strings.Contains(p.Message, tc.message) {
					return
				}
			}
			t.Errorf("no problem at %q saying %q; got %q", tc.field, tc.message, adaptertest.Fields(err))
		})
	}
}

func TestAResentInterchangeMakesTheSameOrders(t *testing.T) {
	a := x12.New(fixed)
	first, err := a.Decode(acct(t, "acme-850.edi"))
	if err != nil {
		t.Fatal(err)
	}
	// The partner resends with new interchange, group and set control numbers.
	resent := strings.NewReplacer("000004501", "000004777", "*4501~", "*4777~", "*4501*X", "*4777*X", "*0001~", "*0101~", "*0002~", "*0102~").Replace(string(read(t, "acme-850.edi")))
	again, err := a.Decode(adapters.Input{Account: "acme", Data: []byte(resent)})
	if err != nil {
		t.Fatalf("resent: %v", err)
	}
	for i := range first {
		if first[i].ID() != again[i].ID() {
			t.Errorf("order %d: id %s resent as %s: it would be a second order", i, first[i].ID(), again[i].ID())
		}
	}
}

func event_(t *testing.T, typ, id string, data string) *event.Event {
	t.Helper()
	ev := event.New()
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource("/crossdock/orders")
	ev.SetTime(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	ev.SetExtension(envelope.ExtAccount, "acme")
	if err := ev.SetData(event.ApplicationJSON, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return &ev
}

// compareGolden compares got with testdata/out/<name>; -update rewrites it.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	adaptertest.CompareGolden(t, filepath.Join("testdata", "out", name), got)
}

func TestEncode(t *testing.T) {
	a := x12.New(fixed)
	accepted := event_(t, schemas.OrderAccepted, "e1", `{"po_number":"ACME-4501","ship_to":"0614141000005","requested_date":"2026-12-15",
		"lines":[{"line":1,"gtin":"00614141123452","quantity":24,"unit":"EA"},{"line":2,"gtin":"00614141123452","quantity":2,"unit":"CS"}],
		"order_id":"7d3f3c1e-2b7a-5c55-9f0e-2f1e6c3b9a10","warehouse":"dc-east"}`)
	rejected := event_(t, schemas.OrderRejected, "e2", `{"po_number":"ACME-4502","reasons":[{"code":"ship_to_not_dc","message":"stable accounts deliver to DCs only","field":"ship_to"}]}`)
	shipped := event_(t, schemas.ShipmentDispatched, "e3", `{"shipment_id":"SH-1","order_id":"7d3f3c1e-2b7a-5c55-9f0e-2f1e6c3b9a10",
		"lines":[{"line":1,"gtin":"00614141123452","quantity":24,"unit":"EA"}],"carrier":"UPSN","sscc":"106141411234567897"}`)
	tests := []struct {
		name   string
		evs    []*event.Event
		golden string
	}{
		{"an accepted and a rejected order are two 855s in one PR group", []*event.Event{accepted, rejected}, "855.edi"},
		{"a shipment is an 856 with its SSCC and items", []*event.Event{shipped}, "856.edi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.Encode(tc.evs, adapters.Party{Account: "acme", Control: 42})
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tc.golden, out)
			// What the hub writes, its own reader reads without envelope errors.
			ics, ps := x12.Read(out)
			if len(ps) > 0 || len(ics) != 1 {
				t.Fatalf("reading the output: %v", ps)
			}
			for _, g := range ics[0].Groups {
				for _, s := range g.Sets {
					if len(s.Problems)+len(g.Problems)+len(ics[0].Problems) > 0 {
						t.Errorf("set %s: %v %v %v", s.Control, s.Problems, g.Problems, ics[0].Problems)
					}
				}
			}
		})
	}
	t.Run("an 856 the hub writes reads back as the same shipment", func(t *testing.T) {
		out, _ := a.Encode([]*event.Event{shipped}, adapters.Party{Warehouse: "dc-west"})
		evs, err := a.Decode(adapters.Input{Warehouse: "dc-west", Account: "acme", Data: out})
		if err != nil || len(evs) != 1 {
			t.Fatalf("Decode = %d events, %v", len(evs), err)
		}
		if got, want := string(evs[0].Data()), `{"shipment_id":"SH-1","order_id":"7d3f3c1e-2b7a-5c55-9f0e-2f1e6c3b9a10","lines":[{"line":1,"gtin":"00614141123452","quantity":24,"unit":"EA"}],"carrier":"UPSN","sscc":"106141411234567897"}`; got != want {
			t.Errorf("round trip:\n got %s\nwant %s", got, want)
		}
	})
	t.Run("the partner's own interchange id and qualifier address the ISA", func(t *testing.T) {
		out, err := a.Encode([]*event.Event{shipped}, adapters.Party{Account: "acme", InterchangeID: "ACMEEDI", Qualifier: "01"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "*ZZ*CROSSDOCK      *01*ACMEEDI        *") || !strings.Contains(string(out), "GS*SH*CROSSDOCK*ACMEEDI*") {
			t.Errorf("envelope not addressed to ACMEEDI (01):\n%s", out)
		}
	})
	t.Run("an event type X12 cannot carry is refused", func(t *testing.T) {
		if _, err := a.Encode([]*event.Event{event_(t, schemas.OrderHeld, "e4", `{}`)}, adapters.Party{Account: "acme"}); err == nil {
			t.Error("Encode(order.held) succeeded")
		}
	})
}

func TestAcknowledge(t *testing.T) {
	a := x12.New(fixed)
	tests := []struct {
		name, file, golden string
	}{
		{"a good group is acknowledged A with each set accepted", "acme-850.edi", "997-accepted.edi"},
		{"a group with one refused set of three is acknowledged R with AK3 naming N1", "officemax-850.edi", "997-rejected.edi"},
		{"a wrong SE count rejects the set", "err-se-count.edi", "997-se-count.edi"},
		{"two good 830s in a PS group are acknowledged A", "acme-830.edi", "997-830-accepted.edi"},
		{"of four 830s one is accepted: the group is acknowledged P", "acme-830-errors.edi", "997-830-partial.edi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := a.Acknowledge(read(t, tc.file), adapters.Input{Account: "acme"}, 7)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, tc.golden, out)
		})
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.edi")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a := x12.New(fixed)
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := a.Decode(adapters.Input{Account: "acme", Data: data})
		if err != nil {
			for _, p := range adapters.Problems(err) {
				if p.Field == "" || p.Code == "" {
					t.Errorf("problem without place or code: %+v", p)
				}
			}
		}
		for _, ev := range evs {
			if ev.ID() == "" {
				t.Error("event without id")
			}
		}
		if _, err := a.Acknowledge(data, adapters.Input{Account: "acme"}, 1); err != nil && len(adapters.Problems(err)) == 0 {
			t.Errorf("Acknowledge error without problems: %v", err)
		}
	})
}

func BenchmarkDecode850(b *testing.B) {
	data := read(b, "acme-850.edi")
	a := x12.New(fixed)
	in := adapters.Input{Account: "acme", Data: data}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
	// Each file holds two 850 documents.
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "850s/s")
}

func TestTheSameOrderTwiceInOneFileIsRefusedTheSecondTime(t *testing.T) {
	data := string(read(t, "acme-850.edi"))
	data = strings.Replace(data, "ACME-4502", "ACME-4501", 1)
	evs, err := x12.New(fixed).Decode(adapters.Input{Account: "acme", Data: []byte(data)})
	if len(evs) != 1 {
		t.Errorf("Decode made %d events, want 1", len(evs))
	}
	ps := adapters.Problems(err)
	if len(ps) == 0 || ps[0].Code != problem.CodeDuplicate || ps[0].Field != "ST 0002 (850) segment 1 ST" {
		t.Errorf("problems = %+v, want a duplicate at ST 0002", ps)
	}
}

// largeOrders is an interchange of n 850s with lines lines each.
func largeOrders(n, lines int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*000000001*0*P*>~\nGS*PO*ACME*CROSSDOCK*20261124*0900*1*X*004010~\n", "", "", "ACME", "CROSSDOCK")
	for i := range n {
		fmt.Fprintf(&b, "ST*850*%04d~\nBEG*00*SA*PO-%d**20261124~\nREF*IA*050081~\nDTM*002*20261215~\nN1*ST*ACME DC*UL*0614141000005~\n", i+1, i)
		for l := range lines {
			fmt.Fprintf(&b, "PO1*%d*%d*EA*6.30**VN*SKU-%d*UK*00614141123452~\nPID*F****WIDGET %d~\n", l+1, l+3, l, l)
		}
		fmt.Fprintf(&b, "CTT*%d~\nSE*%d*%04d~\n", lines, 2*lines+7, i+1)
	}
	fmt.Fprintf(&b, "GE*%d*1~\nIEA*1*000000001~\n", n)
	return []byte(b.String())
}

// BenchmarkDecodeLarge850 parses an interchange of 200 orders of 20 lines
// (about 200 KB), closer to a real daily file than the two-order sample.
func BenchmarkDecodeLarge850(b *testing.B) {
	const orders = 200
	data := largeOrders(orders, 20)
	a := x12.New(fixed)
	in := adapters.Input{Account: "acme", Data: data}
	if evs, err := a.Decode(in); err != nil || len(evs) != orders {
		b.Fatalf("Decode = %d events, %.300v", len(evs), err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(orders*float64(b.N)/b.Elapsed().Seconds(), "850s/s")
}

// BenchmarkRead measures the envelope reader alone on the same file.
func BenchmarkRead(b *testing.B) {
	data := largeOrders(200, 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ps := x12.Read(data); len(ps) > 0 {
			b.Fatal(ps)
		}
	}
}

func TestOneDocumentPerEvent(t *testing.T) {
	a := x12.New(fixed)
	env := func(functional string, segs ...string) []byte {
		body := strings.Join(segs, "~\n")
		return []byte(fmt.Sprintf("ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*000000009*0*P*>~\nGS*%s*ACME*CROSSDOCK*20261124*0900*9*X*004010~\n%s~\nSE*%d*0001~\nGE*1*9~\nIEA*1*000000009~\n",
			"", "", "ACME", "CROSSDOCK", functional, body, len(segs)+1))
	}
	tests := []struct {
		name  string
		in    adapters.Input
		field string
	}{
		{"an 856 shipping two orders is refused at the second order level",
			adapters.Input{Warehouse: "dc-west", Account: "acme", Data: env("SH", "ST*856*0001", "BSN*00*S-2*20261124*0900", "HL*1**S",
				"HL*2*1*O", "PRF*PO-1", "HL*3*2*I", "LIN*1*UK*00614141123452", "SN1**1*EA",
				"HL*4*1*O", "PRF*PO-2", "HL*5*4*I", "LIN*1*UK*00614141123452", "SN1**1*EA")},
			"ST 0001 (856) segment 9 HL element 03"},
		{"an 852 for two locations is refused at the second",
			adapters.Input{Account: "acme", Data: env("PD", "ST*852*0001", "XQ*H*20261116*20261122", "N1*ST*A*UL*0614141000005",
				"N1*ST*B*UL*0614141000012", "LIN*1*UK*00614141123452", "ZA*QA*3*EA")},
			"ST 0001 (852) segment 4 N1 element 01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := a.Decode(tc.in)
			if len(evs) != 0 {
				t.Errorf("Decode made %d events", len(evs))
			}
			if !strings.Contains(strings.Join(adaptertest.Fields(err), "\n"), tc.field) {
				t.Errorf("no problem at %q: %q", tc.field, adaptertest.Fields(err))
			}
		})
	}
}

// BenchmarkDecodeLarge852 is the partner file of the performance target:
// an 852 of 100,000 segments (645 weekly reports of 50 products, 1.7 MB).
func BenchmarkDecodeLarge852(b *testing.B) {
	data := adaptertest.X12Inventory(100_000, 50, "0614141000012", time.Date(2014, 1, 6, 0, 0, 0, 0, time.UTC))
	a := x12.New(fixed)
	in := adapters.Input{Account: "acme", Data: data}
	evs, err := a.Decode(in)
	if err != nil || len(evs) != 100_000/155 {
		b.Fatalf("Decode = %d events, %.300v", len(evs), err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestALineNumberThatRepeatsIsRefusedAtItsSecondPO1(t *testing.T) {
	t.Parallel()
	a := x12.New(fixed)
	// order850 is an 850 whose PO1s carry the line numbers lines.
	order850 := func(lines ...int) []byte {
		segs := []string{"ST*850*0001", "BEG*00*SA*PO-1**20261123", "DTM*002*20261215", "N1*ST*ACME DC*UL*0614141000005"}
		for _, n := range lines {
			segs = append(segs, fmt.Sprintf("PO1*%d*1*EA*6.30**UK*00614141123452", n))
		}
		segs = append(segs, fmt.Sprintf("CTT*%d", len(lines)))
		return []byte(fmt.Sprintf("ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*000000009*0*P*>~\nGS*PO*ACME*CROSSDOCK*20261124*0900*9*X*004010~\n%s~\nSE*%d*0001~\nGE*1*9~\nIEA*1*000000009~\n",
			"", "", "ACME", "CROSSDOCK", strings.Join(segs, "~\n"), len(segs)+1))
	}
	tests := []struct {
		name  string
		lines []int
		field string // "" when the order decodes
	}{
		{"lines numbered upwards decode", []int{1, 2, 5, 9}, ""},
		{"lines numbered in any order without a repeat decode", []int{3, 1, 2, 10, 4}, ""},
		{"a line repeated at once is refused", []int{1, 1}, "ST 0001 (850) segment 6 PO1 element 01"},
		{"a line repeated after others is refused", []int{1, 2, 3, 2}, "ST 0001 (850) segment 8 PO1 element 01"},
		{"a line repeated after the numbers went down is refused", []int{5, 1, 7, 1}, "ST 0001 (850) segment 8 PO1 element 01"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := a.Decode(adapters.Input{Account: "acme", Data: order850(tc.lines...)})
			if tc.field == "" {
				if err != nil || len(evs) != 1 {
					t.Fatalf("Decode = %d events, %v; want one order", len(evs), err)
				}
				return
			}
			if len(evs) != 0 {
				t.Errorf("Decode made %d events, want none", len(evs))
			}
			if fields := strings.Join(adaptertest.Fields(err), "\n"); !strings.Contains(fields, tc.field+": parse_error: line") {
				t.Errorf("problems %q, want a repeated line at %q", fields, tc.field)
			}
		})
	}
}
