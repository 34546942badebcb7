package csv_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/adaptertest"
	"github.com/crossdock/crossdock/adapters/csv"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	in := func(name string) adapters.Input { return adapters.Input{Account: "acme", Data: read(t, name)} }
	adaptertest.Run(t, csv.New(), []adaptertest.Case{
		{Name: "two POs in three rows are two orders", Input: in("orders.csv"), Events: 2},
		{Name: "a European spreadsheet with BOM, CRLF, semicolons and decimal commas is one order", Input: in("european.csv"), Events: 1},
		{Name: "a file with bad rows sends only the orders without errors", Input: in("partly-bad.csv"), Events: 2,
			Fields: []string{"line 4 column quantity", "line 4 column ship_to", "line 5 column requested_date", "line 3 column po_number"}},
		{Name: "an unknown column in the header is named", Input: in("bad-header.csv"), Events: 0, Fields: []string{"line 1 column 3", "line 1"}},
		{Name: "an unclosed quote fails the file at its line", Input: in("unclosed-quote.csv"), Events: 0, Fields: []string{"line 2"}},
		{Name: "a fractional quantity is named in a unit that counts, kept in one that measures", Input: adapters.Input{Account: "acme",
			Data: []byte("po_number,ship_to,requested_date,gtin,quantity,unit\n" +
				"PO-3001,0614141000005,2026-12-20,00614141123452,2.5,EA\n" +
				"PO-3002,0614141000005,2026-12-20,00614141123452,2.5,KGM\n")},
			Events: 1, Fields: []string{"line 2 column quantity"}},
	})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	adaptertest.Golden(t, csv.New(), "testdata/*.csv", adapters.Input{Account: "acme"})
}

func TestAResentFileMakesTheSameOrders(t *testing.T) {
	t.Parallel()
	a := csv.New()
	first, err := a.Decode(adapters.Input{Account: "acme", Data: read(t, "orders.csv")})
	if err != nil {
		t.Fatal(err)
	}
	// The same orders typed again with the columns in another order.
	again, err := a.Decode(adapters.Input{Account: "acme", Data: []byte("unit,quantity,gtin,requested_date,ship_to,po_number\n" +
		"EA,1,00614141123452,2026-12-20,0614141000012,PO-1002\n")})
	if err != nil {
		t.Fatal(err)
	}
	if first[1].ID() != again[0].ID() {
		t.Errorf("PO-1002 resent has id %s, first %s: it would be a second order", again[0].ID(), first[1].ID())
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a := csv.New()
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := a.Decode(adapters.Input{Account: "acme", Data: data})
		if err != nil && len(adapters.Problems(err)) == 0 {
			t.Errorf("error without problems: %v", err)
		}
		for _, ev := range evs {
			if ev.ID() == "" || len(ev.Data()) == 0 {
				t.Errorf("event without id or data: %v", ev)
			}
		}
	})
}

// BenchmarkDecode measures the CSV adapter's decode alone: a file of 1,000
// orders of 10 lines (10,000 rows).
func BenchmarkDecode(b *testing.B) {
	const orders = 1000
	data := adaptertest.CSVOrders("PO", orders, 10, "0614141000005", "2026-12-15")
	a := csv.New()
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
	b.ReportMetric(orders*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkDecodePartnerFile is the partner file of the performance target:
// 50,000 one-line orders in one file (2.8 MB, under the 8 MiB limit).
func BenchmarkDecodePartnerFile(b *testing.B) {
	const orders = 50_000
	data := adaptertest.CSVOrders("PO", orders, 1, "0614141000005", "2026-12-15")
	a := csv.New()
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
	b.ReportMetric(orders*float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

func TestARepeatedLineNumberNamesBothFileLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines []int // the line column of an order's rows
		want  string
	}{
		{"in a short order", []int{1, 2, 1}, "order PO-1 has line 1 twice (lines 2 and 4 of the file)"},
		{"in a long order, early", []int{1, 2, 3, 4, 5, 6, 2}, "order PO-1 has line 2 twice (lines 3 and 8 of the file)"},
		{"in a long order, late", []int{1, 2, 3, 4, 5, 6, 7, 6}, "order PO-1 has line 6 twice (lines 7 and 9 of the file)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := "po_number,ship_to,requested_date,gtin,quantity,line\n"
			for _, n := range tc.lines {
				data += fmt.Sprintf("PO-1,0614141000005,2026-12-20,00614141123452,1,%d\n", n)
			}
			evs, err := csv.New().Decode(adapters.Input{Account: "acme", Data: []byte(data)})
			if len(evs) != 0 {
				t.Errorf("Decode made %d events, want none", len(evs))
			}
			var msgs []string
			for _, p := range adapters.Problems(err) {
				msgs = append(msgs, p.Message)
			}
			if !slices.Contains(msgs, tc.want) {
				t.Errorf("problems %q, want %q", msgs, tc.want)
			}
		})
	}
}
