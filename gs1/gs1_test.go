package gs1

import "testing"

func TestCheckDigit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       byte
	}{
		{"the GTIN of the standard's example", "8061414112345", '8'},
		{"a GLN of the example company", "061414100000", '5'},
		{"an EAN-13 of a Stabilo pen", "400638133393", '1'},
		{"a UPC-A from the GS1 US guide", "03600029145", '2'},
		{"a GTIN-8", "9638507", '4'},
		{"an SSCC", "00614141000000917", '6'},
		{"all zeros", "0000000000000", '0'},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CheckDigit(tc.body); got != tc.want {
				t.Errorf("CheckDigit(%s) = %c, want %c", tc.body, got, tc.want)
			}
		})
	}
}

func TestCheckGTIN(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, gtin, wantErr string }{
		{"a GTIN-14 with its check digit is valid", "00614141123452", ""},
		{"the same item as GTIN-12 is valid", "614141123452", ""},
		{"a GTIN-13 is valid", "0614141123452", ""},
		{"a GTIN-8 is valid", "96385074", ""},
		{"a wrong check digit names the right one", "00614141123453", "check digit should be 2"},
		{"a GTIN of 10 digits is refused", "0614141123", "want 8, 12, 13 or 14 digits, got 10 characters"},
		{"letters are refused", "0061414112345x", `want digits only, got 'x' at position 14`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := CheckGTIN(tc.gtin); err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("CheckGTIN(%q) = %q, want %q", tc.gtin, got, tc.wantErr)
			}
		})
	}
}

func TestCheckGLN(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, gln, wantErr string }{
		{"the GS1 example GLN is valid", "0614141000005", ""},
		{"another GLN with its check digit is valid", "0614141000067", ""},
		{"a GLN whose check digit is 0 is valid", "0614141000050", ""},
		{"a wrong check digit names the right one", "0614141000006", "check digit should be 5"},
		{"an empty GLN is refused", "", "want 13 digits, got 0 characters"},
		{"a GTIN-14 is refused", "00614141000005", "want 13 digits, got 14 characters"},
		{"a letter is refused with its position", "06141410000A9", "want digits only, got 'A' at position 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := CheckGLN(tc.gln); err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("CheckGLN(%q) = %q, want %q", tc.gln, got, tc.wantErr)
			}
		})
	}
}

func TestGTIN14(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"a UPC-A is padded with two zeros", "614141123452", "00614141123452"},
		{"an EAN-13 is padded with one zero", "0614141123452", "00614141123452"},
		{"a GTIN-8 is padded with six zeros", "96385074", "00000096385074"},
		{"a GTIN-14 stays as it is", "10614141123459", "10614141123459"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := GTIN14(tc.in); got != tc.want {
				t.Errorf("GTIN14(%s) = %s, want %s", tc.in, got, tc.want)
			}
			if err := CheckGTIN(GTIN14(tc.in)); err != nil {
				t.Errorf("CheckGTIN(GTIN14(%s)) = %v, want the padded GTIN valid", tc.in, err)
			}
		})
	}
}

// FuzzComplete checks that any string of digits completed with its check
// digit passes the check, and that changing the last digit fails it.
func FuzzComplete(f *testing.F) {
	for _, s := range []string{"061414100000", "0061414112345", "9638507", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for i := 0; i < len(body); i++ {
			if body[i] < '0' || body[i] > '9' {
				return
			}
		}
		body = (body + "000000000000")[:12]
		s := Complete(body)
		if err := CheckGLN(s); err != nil {
			t.Fatalf("CheckGLN(Complete(%s)) = %v, want nil", body, err)
		}
		wrong := s[:12] + string('0'+(s[12]-'0'+1)%10)
		if CheckGLN(wrong) == nil {
			t.Fatalf("CheckGLN(%s) = nil, want a check digit error", wrong)
		}
	})
}
