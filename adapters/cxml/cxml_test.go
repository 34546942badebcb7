package cxml_test

import (
	"os"
	"path/filepath"
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
