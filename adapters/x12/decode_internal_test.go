package x12

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/adaptertest"
)

// decodeWhole is Decode as it was before sets were decoded while reading:
// the whole file read first, then every set decoded from the segments Read
// kept.
func decodeWhole(in adapters.Input) ([]*event.Event, error) {
	ics, ps := Read(in.Data)
	for _, ic := range ics {
		for _, g := range ic.Groups {
			for _, s := range g.Sets {
				if len(s.Problems) == 0 {
					s.ev, s.decoded = decodeSet(s, in)
				}
			}
		}
	}
	return collect(ics, ps)
}

// FuzzDecodeWhileReading: decoding each set as soon as its SE is read, in
// room the next set then reuses, and from the input in place, gives the same
// events and problems as decoding a copy of the whole file after reading it.
func FuzzDecodeWhileReading(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.edi")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Files of many sets, whose segments fill the reader's room several
	// times over, and one whose third report is cut short.
	week := time.Date(2014, 1, 6, 0, 0, 0, 0, time.UTC)
	f.Add(adaptertest.X12Inventory(6_000, 10, "0614141000012", week))
	f.Add(adaptertest.X12Inventory(3_000, 200, "0614141000012", week))
	cut := adaptertest.X12Inventory(600, 50, "0614141000012", week)
	f.Add(bytes.Replace(cut, []byte("SE*155*0003~"), nil, 1))
	a := New(Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Decode reads its input in place: what it returns must not change
		// when the input is overwritten afterwards.
		in := adapters.Input{Account: "acme", Data: bytes.Clone(data)}
		evs, err := a.Decode(in)
		for i := range in.Data {
			in.Data[i] = 'X'
		}
		wantEvs, wantErr := decodeWhole(adapters.Input{Account: "acme", Data: data})
		if !reflect.DeepEqual(evs, wantEvs) {
			t.Errorf("Decode made %d events, reading the whole file first %d, or they differ", len(evs), len(wantEvs))
		}
		if !reflect.DeepEqual(adapters.Problems(err), adapters.Problems(wantErr)) {
			t.Errorf("Decode problems %+v, reading the whole file first %+v", adapters.Problems(err), adapters.Problems(wantErr))
		}
	})
}

// FuzzParseNumberIsParseFloat: the fast path for quantities of digits gives
// what strconv.ParseFloat gives, value and whether it is an error.
func FuzzParseNumberIsParseFloat(f *testing.F) {
	for _, s := range []string{"", "0", "24", "007", "6.30", "-3", "+3", "1e3", "0x10", "1_000", "999999999999999", "9999999999999999", "12345678901234567890", "inf", "NaN", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseNumber(s)
		want, werr := strconv.ParseFloat(s, 64)
		if (err == nil) != (werr == nil) || (err == nil && got != want && !(got != got && want != want)) {
			t.Errorf("parseNumber(%q) = %v, %v; strconv.ParseFloat %v, %v", s, got, err, want, werr)
		}
	})
}

// FuzzInventoryAppendJSON: an inventory report's hand-written JSON is byte
// for byte what encoding/json writes.
func FuzzInventoryAppendJSON(f *testing.F) {
	f.Add("0614141000012", "2014-01-12T23:59:59Z", "40004100000012", 103, 3, true, false)
	f.Add("<a&b>\"\\\n", "\u2028\xff", "é😀", -7, 0, false, true)
	f.Fuzz(func(t *testing.T, location, asOf, gtin string, onHand, n int, onOrder, sold bool) {
		it := &item{GTIN: gtin, OnHand: onHand}
		if onOrder {
			it.OnOrder = &n
		}
		if sold {
			it.SoldLast = &onHand
		}
		for _, inv := range []inventory{
			{Location: location, AsOf: asOf, Items: []*item{it, {GTIN: asOf, OnHand: n, OnOrder: &n, SoldLast: &n}, nil}},
			{Location: location, Items: []*item{}},
			{AsOf: asOf},
		} {
			want, err := json.Marshal(inv)
			if err != nil {
				t.Fatal(err)
			}
			if got := inv.AppendJSON(nil); string(got) != string(want) {
				t.Fatalf("AppendJSON = %s\nencoding/json = %s", got, want)
			}
		}
	})
}
