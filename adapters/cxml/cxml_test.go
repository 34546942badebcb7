package cxml_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/adaptertest"
	"github.com/crossdock/crossdock/adapters/cxml"
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
	adaptertest.Run(t, cxml.New(), []adaptertest.Case{
		{Name: "an OrderRequest with two items is one order", Input: in("order.xml"), Events: 1},
		{Name: "a ship-to without a GLN and a negative quantity are named by line", Input: in("bad-order.xml"),
			Fields: []string{"line 11 OrderRequestHeader ShipTo Address addressID", "line 24 ItemOut 2 quantity"}},
	})
}

func TestGolden(t *testing.T) {
	t.Parallel()
	adaptertest.Golden(t, cxml.New(), "testdata/*.xml", adapters.Input{Account: "acme"})
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a := cxml.New()
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := a.Decode(adapters.Input{Account: "acme", Data: data}); err != nil && len(adapters.Problems(err)) == 0 {
			t.Errorf("error without problems: %v", err)
		}
	})
}

// BenchmarkDecode measures the cXML adapter's decode alone on the sample
// OrderRequest (two items, 1.9 KB): cXML carries one order per document.
func BenchmarkDecode(b *testing.B) {
	benchmarkDecode(b, read(b, "order.xml"))
}

// BenchmarkDecodeLarge is an OrderRequest of 500 items (about 200 KB), the
// size of a large catalogue order.
func BenchmarkDecodeLarge(b *testing.B) {
	benchmarkDecode(b, largeOrder(b, 500))
}

func benchmarkDecode(b *testing.B, data []byte) {
	a := cxml.New()
	in := adapters.Input{Account: "acme", Data: data}
	if evs, err := a.Decode(in); err != nil || len(evs) != 1 {
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

// largeOrder is the sample OrderRequest with its first item repeated n
// times, numbered 1 to n.
func largeOrder(b *testing.B, n int) []byte {
	doc := string(read(b, "order.xml"))
	start := strings.Index(doc, "      <ItemOut ")
	end := strings.Index(doc, "    </OrderRequest>")
	item := doc[start : strings.Index(doc, "</ItemOut>")+len("</ItemOut>\n")]
	var items strings.Builder
	for i := 1; i <= n; i++ {
		items.WriteString(strings.Replace(item, `lineNumber="1"`, `lineNumber="`+strconv.Itoa(i)+`"`, 1))
	}
	return []byte(doc[:start] + items.String() + doc[end:])
}
