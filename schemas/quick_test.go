package schemas

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// observedCases are rfid.observed data that the quick check proves valid
// (quick true) or leaves to the generic path (quick false), and whether
// the schema takes them.
var observedCases = []struct {
	name         string
	data         string
	quick, valid bool
}{
	{"a plain batch is proved valid", `{"reader":"r1","read_point":"urn:epc:id:sgln:0614141.00000.dock","reads":[{"epc":"3074257BF7194E4000001A85","time":"2025-04-10T13:22:07.250Z"}]}`, true, true},
	{"keys in any order, spaces and every field of a read", " {\n\"reads\" : [ {\"time\":\"2025-04-10T13:22:07+02:00\", \"rssi\":-61.5, \"antenna\":0, \"epc\":\"3074257bf7194e4000001a85\"} ], \"read_point\":\"0614141000005\", \"reader\":\"r\"}\n", true, true},
	{"a read point GLN with a wrong check digit", `{"reader":"r1","read_point":"0614141000006","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"a read point with a space", `{"reader":"r1","read_point":"urn:epc:id:sgln:0614141.00000.do ck","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"an SGLN without a location reference", `{"reader":"r1","read_point":"urn:epc:id:sgln:0614141..","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, true, true},
	{"an EPC of odd length", `{"reader":"r1","read_point":"0614141000005","reads":[{"epc":"30742","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"an EPC with an escape is left to the generic path", `{"reader":"r1","read_point":"0614141000005","reads":[{"epc":"\u0033074","time":"2025-04-10T13:22:07Z"}]}`, false, true},
	{"a reader in another script is left to the generic path", `{"reader":"quai-é","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, true},
	{"a reader of 65 characters", `{"reader":"` + strings.Repeat("r", 65) + `","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"an empty reader", `{"reader":"","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"the 29th of February of a leap year", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2024-02-29T23:59:59Z"}]}`, true, true},
	{"the 29th of February of another year", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-02-29T10:00:00Z"}]}`, false, false},
	{"a leap second is left to the generic path", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2016-12-31T23:59:60Z"}]}`, false, true},
	{"a lower-case t is left to the generic path", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10t13:22:07Z"}]}`, false, true},
	{"a time without a zone", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07"}]}`, false, false},
	{"a negative antenna", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","antenna":-1,"time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"an antenna written 1.0 is left to the generic path", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","antenna":1.0,"time":"2025-04-10T13:22:07Z"}]}`, false, true},
	{"an rssi with an exponent is left to the generic path", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","rssi":-6e1,"time":"2025-04-10T13:22:07Z"}]}`, false, true},
	{"a number with a leading zero is not JSON", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","antenna":01,"time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"a read with an unknown field", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z","tid":"x"}]}`, false, false},
	{"a read without a time", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074"}]}`, false, false},
	{"a key given twice is left to the generic path", `{"reader":"r","reader":"s","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, true},
	{"no reads", `{"reader":"r","read_point":"0614141000005","reads":[]}`, false, false},
	{"no reader", `{"read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]}`, false, false},
	{"a trailing comma is not JSON", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"},]}`, false, false},
	{"data after the object is not JSON", `{"reader":"r","read_point":"0614141000005","reads":[{"epc":"3074","time":"2025-04-10T13:22:07Z"}]} {}`, false, false},
}

// TestQuickObservedProvesOnlyValidData: the quick check answers true only
// for data the schema takes, and takes the plain batches readers send.
func TestQuickObservedProvesOnlyValidData(t *testing.T) {
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	e := v.entries[RFIDObserved]
	for _, tc := range observedCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := quickObserved([]byte(tc.data)); got != tc.quick {
				t.Errorf("quickObserved = %v, want %v", got, tc.quick)
			}
			if err := v.validate(e, RFIDObserved, []byte(tc.data)); (err == nil) != tc.valid {
				t.Errorf("the schema's answer: %v; want valid %v", err, tc.valid)
			}
			if err := v.Validate(RFIDObserved, []byte(tc.data)); (err == nil) != tc.valid {
				t.Errorf("Validate = %v; want valid %v", err, tc.valid)
			}
		})
	}
}

// FuzzQuickObservedAgreesWithSchema: whatever the data, the quick check
// never proves valid what the schema refuses.
func FuzzQuickObservedAgreesWithSchema(f *testing.F) {
	v, err := New()
	if err != nil {
		f.Fatal(err)
	}
	e := v.entries[RFIDObserved]
	for _, tc := range observedCases {
		f.Add([]byte(tc.data))
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "valid", RFIDObserved+".json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		if quickObserved(data) {
			if err := v.validate(e, RFIDObserved, data); err != nil {
				t.Fatalf("quickObserved(%q) = true, but the schema says %v", data, err)
			}
		}
	})
}

// BenchmarkValidateRFIDObserved validates a reader's batch of 250 reads by
// the generic path and by Validate (the quick check). One op is one batch.
func BenchmarkValidateRFIDObserved(b *testing.B) {
	v, err := New()
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(`{"reader":"dock-3","read_point":"urn:epc:id:sgln:0614141.00000.dock3","reads":[`)
	for i := range 250 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"epc":"3074257BF7194E40000%05X","time":"2026-12-02T06:43:29.%09dZ"}`, i%100, i*4000000)
	}
	sb.WriteString(`]}`)
	data := []byte(sb.String())
	e := v.entries[RFIDObserved]
	for _, bc := range []struct {
		name     string
		validate func() error
	}{
		{"generic", func() error { return v.validate(e, RFIDObserved, data) }},
		{"quick", func() error { return v.Validate(RFIDObserved, data) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if !quickObserved(data) {
		b.Error("the benchmark's batch is not of the plain shape")
	}
}
