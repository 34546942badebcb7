package epc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Known encodings: the Tag Data Standard's worked SGTIN-96 example (TDS
// §14.5.1 and appendix E), and encodings of the other schemes as the GS1 Tag
// Data Translation files give them.
var known = []struct {
	name, hex, tag, id, gtin string
}{
	{"the standard's SGTIN-96 example decodes", "3074257BF7194E4000001A85", "urn:epc:tag:sgtin-96:3.0614141.812345.6789", "urn:epc:id:sgtin:0614141.812345.6789", "80614141123458"},
	{"an SSCC-96 with a 6-digit company prefix decodes", "3159542C8000000001000000", "urn:epc:tag:sscc-96:2.348338.00000000001", "urn:epc:id:sscc:348338.00000000001", ""},
	{"an SSCC-96 with filter 0 decodes", "311BA1B300CE0A6A83000000", "urn:epc:tag:sscc-96:0.952012.03456789123", "urn:epc:id:sscc:952012.03456789123", ""},
	{"an SGLN-96 with an extension decodes", "3276451FD46072000000162E", "urn:epc:tag:sgln-96:3.9521141.12345.5678", "urn:epc:id:sgln:9521141.12345.5678", ""},
	{"an SGLN-96 with an 11-digit company prefix decodes", "320661AEBD33A287CEA6443D", "urn:epc:tag:sgln-96:0.81830209949.1.583287587901", "urn:epc:id:sgln:81830209949.1.583287587901", ""},
	{"a GRAI-96 decodes", "33B4257BF40C0E4000000190", "urn:epc:tag:grai-96:5.0614141.12345.400", "urn:epc:id:grai:0614141.12345.400", ""},
	{"a GRAI-96 with leading zeros in its asset type decodes", "3374257BF4000200000004D2", "urn:epc:tag:grai-96:3.0614141.00008.1234", "urn:epc:id:grai:0614141.00008.1234", ""},
	{"a GIAI-96 decodes", "3474257BF400000000BC6038", "urn:epc:tag:giai-96:3.0614141.12345400", "urn:epc:id:giai:0614141.12345400", ""},
	{"a GIAI-96 with filter 1 decodes", "3434257BF400000000002694", "urn:epc:tag:giai-96:1.0614141.9876", "urn:epc:id:giai:0614141.9876", ""},
}

func TestDecodeKnownEncodings(t *testing.T) {
	t.Parallel()
	for _, tc := range known {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range []string{tc.hex, strings.ToLower(tc.hex)} {
				e, err := Decode(in)
				if err != nil {
					t.Fatalf("Decode(%s): %v", in, err)
				}
				if got := e.TagURI(); got != tc.tag {
					t.Errorf("Decode(%s).TagURI() = %s, want %s", in, got, tc.tag)
				}
				if got := e.URI(); got != tc.id {
					t.Errorf("Decode(%s).URI() = %s, want %s", in, got, tc.id)
				}
				if got := e.GTIN(); got != tc.gtin {
					t.Errorf("Decode(%s).GTIN() = %q, want %q", in, got, tc.gtin)
				}
			}
		})
	}
}

func TestEncodeKnownEncodings(t *testing.T) {
	t.Parallel()
	for _, tc := range known {
		t.Run(strings.Replace(tc.name, "decodes", "encodes", 1), func(t *testing.T) {
			e, err := Parse(tc.tag)
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.tag, err)
			}
			got, err := e.Hex()
			if err != nil {
				t.Fatalf("Hex(%s): %v", tc.tag, err)
			}
			if got != tc.hex {
				t.Errorf("Hex(%s) = %s, want %s", tc.tag, got, tc.hex)
			}
			n, err := Normalize(tc.tag)
			if err != nil || n != tc.id {
				t.Errorf("Normalize(%s) = %s, %v; want %s", tc.tag, n, err, tc.id)
			}
		})
	}
}

func TestPureIdentityURIEncodesWithFilterZero(t *testing.T) {
	t.Parallel()
	e, err := Parse("urn:epc:id:sgtin:0614141.812345.6789")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Hex()
	if err != nil {
		t.Fatal(err)
	}
	if want := "3014257BF7194E4000001A85"; got != want {
		t.Errorf("Hex = %s, want %s (the example with filter 0)", got, want)
	}
}

func TestBadEPCs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, reason string
	}{
		{"an unknown header is refused", "3574257BF7194E4000001A85", "header 0x35"},
		{"a 64-bit encoding's header is refused", "E274257BF7194E4000001A85", "header 0xE2"},
		{"partition 7 is refused", "307C257BF7194E4000001A85", "partition value 7"},
		{"a company prefix with too many digits is refused", "3003FFFFFFFFFC0000000001", "company prefix"},
		{"an item reference with too many digits is refused", "3074257BF7FFFFC000001A85", "reference"},
		{"an SGLN location reference beyond partition 0's zero digits is refused", "32000000000002000000162E", "reference"},
		{"SSCC-96 with unallocated bits set is refused", "3159542C8000000001000001", "unallocated"},
		{"a short hex is refused", "3074257BF7194E4000001A", "24 hex digits"},
		{"a long hex is refused", "3074257BF7194E4000001A8500", "24 hex digits"},
		{"non-hex is refused", "3074257BF7194E4000001AZZ", "not hex"},
		{"an empty string is refused", "", "24 hex digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%q) = %v, want an *Error", tc.in, err)
			}
			if !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("Decode(%q) reason %q, want it to mention %q", tc.in, e.Reason, tc.reason)
			}
		})
	}
}

func TestBadURIs(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in string }{
		{"an unknown tag scheme is refused", "urn:epc:tag:sgtin-198:3.0614141.812345.6789"},
		{"an unknown identity scheme is refused", "urn:epc:id:gid:1.2.3"},
		{"a serial with a leading zero is refused", "urn:epc:id:sgtin:0614141.812345.06789"},
		{"a serial above 2^38 is refused", "urn:epc:id:sgtin:0614141.812345.274877906944"},
		{"a reference of the wrong length is refused", "urn:epc:id:sgtin:0614141.81234.6789"},
		{"a 5-digit company prefix is refused", "urn:epc:id:sgtin:06141.81234567.6789"},
		{"a non-digit company prefix is refused", "urn:epc:id:sgtin:061414a.812345.6789"},
		{"a filter of 8 is refused", "urn:epc:tag:sgtin-96:8.0614141.812345.6789"},
		{"a missing field is refused", "urn:epc:id:sgtin:0614141.812345"},
		{"an SSCC with a serial is refused", "urn:epc:id:sscc:0614141.1234567890.1"},
		{"not a URN is refused", "http://example.com/epc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if e, err := Parse(tc.in); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tc.in, e)
			}
		})
	}
}

// digits returns n random decimal digits.
func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// TestRoundTripEveryPartition encodes random valid values for every scheme
// and partition, decodes the hex, and requires the same EPC back; then
// re-encodes the URIs the decoder wrote.
func TestRoundTripEveryPartition(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for _, l := range layouts {
		for p, row := range l.table {
			t.Run(string(l.scheme)+" partition "+strconv.Itoa(p)+" round-trips", func(t *testing.T) {
				for range 200 {
					e := EPC{Scheme: l.scheme, Filter: r.IntN(8), CompanyPrefix: digits(r, row.cpDigits)}
					if l.refNumeric {
						e.Reference = strconv.FormatUint(r.Uint64N(1<<uint(row.refBits)), 10)
					} else {
						e.Reference = digits(r, row.refDigits)
					}
					if l.tailIsNum {
						e.Serial = strconv.FormatUint(r.Uint64N(1<<uint(l.tailBits)), 10)
					}
					h, err := e.Hex()
					if err != nil {
						t.Fatalf("Hex(%+v): %v", e, err)
					}
					got, err := Decode(h)
					if err != nil {
						t.Fatalf("Decode(%s) of %+v: %v", h, e, err)
					}
					if got != e {
						t.Fatalf("Decode(Hex(%+v)) = %+v", e, got)
					}
					if uri, err := DecodeURI(h); err != nil || uri != e.URI() {
						t.Fatalf("DecodeURI(%s) = %q, %v; want %q", h, uri, err, e.URI())
					}
					back, err := Parse(got.TagURI())
					if err != nil || back != e {
						t.Fatalf("Parse(%s) = %+v, %v; want %+v", got.TagURI(), back, err, e)
					}
					id, err := Parse(got.URI())
					if err != nil || id.URI() != e.URI() {
						t.Fatalf("Parse(%s) = %+v, %v", got.URI(), id, err)
					}
				}
			})
		}
	}
}

// TestDecodeWritesNumbersOfEveryLength decodes serials and GIAI asset
// references at every power of ten and one below it, where the decimal
// writer changes length, and compares them with strconv's.
func TestDecodeWritesNumbersOfEveryLength(t *testing.T) {
	t.Parallel()
	var edges []uint64
	for v := uint64(1); v < 1e19; v *= 10 {
		edges = append(edges, v-1, v, v+1)
	}
	edges = append(edges, 1e19-1, 1e19, ^uint64(0))
	for _, l := range layouts {
		for p, row := range l.table {
			t.Run(string(l.scheme)+" partition "+strconv.Itoa(p)+" writes every length", func(t *testing.T) {
				for _, v := range edges {
					// Each field gets v, or v cut to the digits it has room for.
					pad := func(n int) string {
						if n == 0 {
							return ""
						}
						return fmt.Sprintf("%0*d", n, v%pow10[n])
					}
					e := EPC{Scheme: l.scheme, Filter: 1, CompanyPrefix: pad(row.cpDigits), Reference: pad(row.refDigits)}
					if l.refNumeric {
						e.Reference = strconv.FormatUint(v&(1<<uint(row.refBits)-1), 10)
					}
					if l.tailIsNum {
						e.Serial = strconv.FormatUint(v&(1<<uint(l.tailBits)-1), 10)
					}
					h, err := e.Hex()
					if err != nil {
						t.Fatalf("Hex(%+v): %v", e, err)
					}
					if got, err := Decode(h); err != nil || got != e {
						t.Fatalf("Decode(%s) = %+v, %v; want %+v", h, got, err, e)
					}
					if uri, err := DecodeURI(h); err != nil || uri != e.URI() {
						t.Fatalf("DecodeURI(%s) = %q, %v; want %q", h, uri, err, e.URI())
					}
				}
			})
		}
	}
}

// FuzzDecode feeds the hex decoder arbitrary strings: it must never panic,
// and whatever it accepts must be 24 hex digits that encode back to the same
// 96 bits (so it never accepts garbage it cannot reproduce).
func FuzzDecode(f *testing.F) {
	for _, tc := range known {
		f.Add(tc.hex)
	}
	seeds, _ := os.ReadFile(filepath.Join("testdata", "hex-seeds.txt"))
	for _, line := range strings.Split(string(seeds), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Decode(s)
		uri, uerr := DecodeURI(s)
		if (err == nil) != (uerr == nil) || (err == nil && uri != e.URI()) {
			t.Fatalf("DecodeURI(%q) = %q, %v; Decode gave %q, %v", s, uri, uerr, e.URI(), err)
		}
		if err != nil {
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("Decode(%q) error %v is not an *Error", s, err)
			}
			return
		}
		h, err := e.Hex()
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, which does not encode: %v", s, e, err)
		}
		if !strings.EqualFold(h, s) {
			t.Fatalf("Decode(%q) = %+v, encodes to %s", s, e, h)
		}
		if _, err := Parse(e.TagURI()); err != nil {
			t.Fatalf("tag URI %s of %q does not parse: %v", e.TagURI(), s, err)
		}
	})
}

// FuzzParse: URIs never panic the parser, and an accepted URI round-trips.
func FuzzParse(f *testing.F) {
	for _, tc := range known {
		f.Add(tc.tag)
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		h, err := e.Hex()
		if err != nil {
			t.Fatalf("Parse(%q) accepted %+v that does not encode: %v", s, e, err)
		}
		d, err := Decode(h)
		if err != nil || d != e {
			t.Fatalf("Decode(Hex(Parse(%q))) = %+v, %v; want %+v", s, d, err, e)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		e, err := Decode("3074257BF7194E4000001A85")
		if err != nil {
			b.Fatal(err)
		}
		_ = e.URI()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}

func BenchmarkDecodeURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeURI("3074257BF7194E4000001A85"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}

func TestDigitalLink(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, uri, want string }{
		// The SGTIN and SGLN pairs are those of the EPCIS event hash
		// reference examples (github.com/RalphTro/epcis-event-hash-generator).
		{"an SGTIN is its GTIN and serial", "urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"},
		{"an SGLN is its GLN and extension", "urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"},
		{"an SGLN without extension is its GLN", "urn:epc:id:sgln:0614141.00000.0", "https://id.gs1.org/414/0614141000005"},
		{"an SSCC is its SSCC-18", "urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"},
		{"a GRAI is 0, the GRAI-13 and the serial", "urn:epc:id:grai:0614141.12345.400", "https://id.gs1.org/8003/00614141123452400"},
		{"a GIAI is the company prefix and asset reference", "urn:epc:id:giai:0614141.12345400", "https://id.gs1.org/8004/061414112345400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.DigitalLink(); got != tc.want {
				t.Errorf("DigitalLink(%s) = %s, want %s", tc.uri, got, tc.want)
			}
		})
	}
}

// BenchmarkAppendURI is the rfid service's per-read decode: into a reused
// buffer, no allocation.
func BenchmarkAppendURI(b *testing.B) {
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendURI(buf[:0], "3074257BF7194E4000001A85"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decodes/s")
}
