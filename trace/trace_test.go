package trace

import (
	"strings"
	"testing"
)

func TestQueryValid(t *testing.T) {
	cases := []struct {
		name string
		q    Query
		ok   bool
	}{
		{"a PO number alone is a query", Query{PO: "PO-1"}, true},
		{"an interchange number with an account is a query", Query{ISA: "000004711", Account: "acme"}, true},
		{"nothing is not a query", Query{}, false},
		{"two keys at once are refused", Query{PO: "A", ID: "B"}, false},
		{"a NATS wildcard is refused", Query{PO: "A.>"}, false},
		{"a space is refused", Query{EPC: "urn epc"}, false},
		{"an account id in capitals is refused", Query{PO: "A", Account: "ACME"}, false},
		{"a value over 128 characters is refused", Query{ID: strings.Repeat("x", 129)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.q.Valid(); (err == nil) != tc.ok {
				t.Errorf("Valid(%+v) = %v, want ok %v", tc.q, err, tc.ok)
			}
		})
	}
}

func TestSSCCDigitsOfAURI(t *testing.T) {
	// TDS 2.1 §6.3.2: urn:epc:id:sscc:0614141.1234567890 is the SSCC
	// (extension 1) 0614141 234567890 with its check digit.
	m := ssccURI.FindStringSubmatch("urn:epc:id:sscc:0614141.1234567890")
	if m == nil {
		t.Fatal("the SSCC URI does not match")
	}
	if got := ssccDigits(m[1], m[2]); got != "106141412345678908" {
		t.Errorf("ssccDigits = %s, want 106141412345678908", got)
	}
}

func FuzzQueryValid(f *testing.F) {
	for _, s := range []string{"PO-1", "", "a.*", "000004711", strings.Repeat("9", 200), "urn:epc:id:sscc:0614141.1234567890"} {
		f.Add(s, "acme")
	}
	f.Fuzz(func(t *testing.T, v, account string) {
		q := Query{PO: v, Account: account}
		if q.Valid() == nil && (strings.ContainsAny(v, "*> \t\r\n\x00") || v == "" || len(v) > 128) {
			t.Errorf("Valid accepted %q", v)
		}
	})
}
