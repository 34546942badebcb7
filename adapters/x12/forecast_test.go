package x12_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/x12"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

// set830 is an interchange holding one 830 with the given body segments.
func set830(segs ...string) []byte {
	body := strings.Join(segs, "~\n")
	return []byte(fmt.Sprintf("ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261201*0700*U*00401*000000777*0*P*>~\nGS*PS*ACME*CROSSDOCK*20261201*0700*777*X*004010~\nST*830*0001~\n%s~\nSE*%d*0001~\nGE*1*777~\nIEA*1*000000777~\n",
		"", "", "ACME", "CROSSDOCK", body, len(segs)+2))
}

func TestThe830IsReadSegmentBySegment(t *testing.T) {
	const bfr = "BFR*00*FC-1*2*DL*A*20261207*20261220*20261201"
	tests := []struct {
		name  string
		segs  []string
		code  string
		field string
	}{
		{"a negative bucket is a schema violation at its FST",
			[]string{bfr, "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*-1*C*W*20261207"}, problem.CodeSchemaViolation, "ST 0001 (830) segment 5 FST element 01"},
		{"a release number that is no version is refused at BFR03",
			[]string{"BFR*00*FC-1*A7*DL*A*20261207*20261220*20261201", "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207"}, problem.CodeParseError, "ST 0001 (830) segment 2 BFR element 03"},
		{"cumulative quantities are not read",
			[]string{"BFR*00*FC-1*2*DL*C*20261207*20261220*20261201", "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207"}, problem.CodeParseError, "ST 0001 (830) segment 2 BFR element 05"},
		{"a monthly bucket is refused at FST03",
			[]string{bfr, "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*M*20261201"}, problem.CodeParseError, "ST 0001 (830) segment 5 FST element 03"},
		{"two buckets in one week are refused at the second",
			[]string{bfr, "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207", "FST*2*C*W*20261209"}, problem.CodeParseError, "ST 0001 (830) segment 6 FST element 04"},
		{"another account's ship-to is unknown_ship_to",
			[]string{bfr, "N1*ST*DC*UL*0614141000029", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207"}, problem.CodeUnknownShipTo, "ST 0001 (830) segment 3 N1 element 04"},
		{"an item without a ship-to is refused at its LIN",
			[]string{bfr, "LIN*1*UK*00614141123452", "FST*1*C*W*20261207"}, problem.CodeParseError, "ST 0001 (830) segment 3 LIN"},
		{"a CTT that miscounts the items is refused",
			[]string{bfr, "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207", "CTT*2"}, problem.CodeParseError, "ST 0001 (830) segment 6 CTT element 01"},
	}
	a := x12.New(fixed)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := a.Decode(adapters.Input{Account: "acme", AccountOf: owner, Data: set830(tc.segs...)})
			if len(evs) != 0 {
				t.Errorf("Decode made %d events", len(evs))
			}
			for _, p := range adapters.Problems(err) {
				if p.Field == tc.field && p.Code == tc.code {
					return
				}
			}
			t.Errorf("no %s at %q; got %+v", tc.code, tc.field, adapters.Problems(err))
		})
	}
	t.Run("a week is the ISO week of its FST04 date, whatever the weekday", func(t *testing.T) {
		evs, err := a.Decode(adapters.Input{Account: "acme", AccountOf: owner,
			Data: set830(bfr, "N1*ST*DC*UL*0614141000005", "LIN*1*UP*614141123452", "FST*7*C*W*20261213", "FST*0*D*W*20270101")})
		if err != nil || len(evs) != 1 {
			t.Fatalf("Decode = %d events, %v", len(evs), err)
		}
		if got, want := string(evs[0].Data()), `{"forecast_id":"FC-1","version":2,"issued":"2026-12-01","lines":[{"location":"0614141000005","gtin":"00614141123452","weeks":[{"week":"2026-W50","quantity":7},{"week":"2026-W53","quantity":0}]}]}`; got != want {
			t.Errorf("data\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzDecode830 feeds the 830 decoder mutations of the 830 samples: it never
// panics, every problem has a code and a place, and every forecast it makes
// has whole, non-negative quantities in real ISO weeks.
func FuzzDecode830(f *testing.F) {
	files, _ := filepath.Glob("testdata/*830*.edi")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(set830("BFR*00*FC-1*2*DL*A*20261207*20261220*20261201", "N1*ST*DC*UL*0614141000005", "LIN*1*UK*00614141123452", "FST*1*C*W*20261207"))
	a := x12.New(fixed)
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := a.Decode(adapters.Input{Account: "acme", AccountOf: owner, Data: data})
		for _, p := range adapters.Problems(err) {
			if p.Field == "" || p.Code == "" {
				t.Errorf("problem without place or code: %+v", p)
			}
		}
		for _, ev := range evs {
			if ev.Type() != schemas.ForecastShared {
				continue
			}
			var fc struct {
				Version int64 `json:"version"`
				Lines   []struct {
					Weeks []struct {
						Week     string `json:"week"`
						Quantity int64  `json:"quantity"`
					} `json:"weeks"`
				} `json:"lines"`
			}
			if err := json.Unmarshal(ev.Data(), &fc); err != nil {
				t.Fatalf("forecast data: %v", err)
			}
			if fc.Version < 1 {
				t.Errorf("version %d", fc.Version)
			}
			for _, l := range fc.Lines {
				for _, w := range l.Weeks {
					if w.Quantity < 0 || len(w.Week) != 8 || w.Week[5] != 'W' {
						t.Errorf("bucket %+v", w)
					}
				}
			}
		}
		if _, err := a.Acknowledge(data, adapters.Input{Account: "acme"}, 1); err != nil && len(adapters.Problems(err)) == 0 {
			t.Errorf("Acknowledge error without problems: %v", err)
		}
	})
}

// large830 is an interchange of n 830s, one item each with weeks buckets.
func large830(n, weeks int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261201*0700*U*00401*000000001*0*P*>~\nGS*PS*ACME*CROSSDOCK*20261201*0700*1*X*004010~\n", "", "", "ACME", "CROSSDOCK")
	for i := range n {
		fmt.Fprintf(&b, "ST*830*%04d~\nBFR*00*FC-%d*1*DL*A*20261207*20271231*20261201~\nN1*ST*ACME DC*UL*0614141000005~\nLIN*1*UK*00614141123452~\nUIT*EA~\n", i+1, i)
		for w := range weeks {
			fmt.Fprintf(&b, "FST*%d*C*W*%s~\n", 100+w, fixed.Now().AddDate(0, 0, 7*(w+1)).Format("20060102"))
		}
		fmt.Fprintf(&b, "CTT*1~\nSE*%d*%04d~\n", weeks+7, i+1)
	}
	fmt.Fprintf(&b, "GE*%d*1~\nIEA*1*000000001~\n", n)
	return []byte(b.String())
}

// BenchmarkDecode830 decodes an interchange of 200 forecasts of 26 weekly
// buckets each (a half-year horizon per location and item).
func BenchmarkDecode830(b *testing.B) {
	const sets = 200
	data := large830(sets, 26)
	a := x12.New(fixed)
	in := adapters.Input{Account: "acme", AccountOf: owner, Data: data}
	if evs, err := a.Decode(in); err != nil || len(evs) != sets {
		b.Fatalf("Decode = %d events, %.300v", len(evs), err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(sets*float64(b.N)/b.Elapsed().Seconds(), "830s/s")
}
