package x12

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
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
// room the next set then reuses, gives the same events and problems as
// decoding the whole file after reading it.
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
		in := adapters.Input{Account: "acme", Data: data}
		evs, err := a.Decode(in)
		wantEvs, wantErr := decodeWhole(in)
		if !reflect.DeepEqual(evs, wantEvs) {
			t.Errorf("Decode made %d events, reading the whole file first %d, or they differ", len(evs), len(wantEvs))
		}
		if !reflect.DeepEqual(adapters.Problems(err), adapters.Problems(wantErr)) {
			t.Errorf("Decode problems %+v, reading the whole file first %+v", adapters.Problems(err), adapters.Problems(wantErr))
		}
	})
}
