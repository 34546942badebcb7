package accounts

import (
	"strings"
	"testing"
)

func TestParseFileVMIAgreement(t *testing.T) {
	tests := []struct {
		name, agreement, want string
	}{
		{"one item written as GTIN-14 and GTIN-12 is refused", `{items: {"00614141123452": {min: 10}, "614141123452": {}}}`,
			`vmi.items.614141123452: the same item as 00614141123452`},
		{"min, max and case pack load", `{items: {"00614141123452": {min: 10, max: 50, case_pack: 12, lead_days: 1.5}}}`, ""},
		{"an item key that is not a GTIN is refused", `{items: {"00614141123453": {min: 1}}}`,
			`vmi.items.00614141123453: not a GTIN: check digit should be 2`},
		{"min above max is refused", `{items: {"00614141123452": {min: 60, max: 50}}}`,
			`vmi.items.00614141123452: min 60 is above max 50`},
		{"a negative min is refused", `{items: {"00614141123452": {min: -1}}}`,
			`vmi.items.00614141123452.min -1: want 0 or more units`},
		{"a zero max is refused", `{items: {"00614141123452": {max: 0}}}`,
			`vmi.items.00614141123452.max 0: want 1 or more units`},
		{"an unknown item key is refused with its path", `{items: {"00614141123452": {minimum: 3}}}`,
			`vmi.items.00614141123452.minimum: unknown key`},
		{"an unknown agreement key is refused", `{levels: {}}`, `vmi.levels: unknown key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(testFile(), "    webhook:", "    vmi: "+tc.agreement+"\n    webhook:", 1)
			f, err := ParseFile([]byte(in), DefaultTiers())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ParseFile() error = %v", err)
				}
				it := f.Accounts[0].VMI.Items["00614141123452"]
				if *it.Min != 10 || *it.Max != 50 || it.CasePack != 12 || it.LeadDays != 1.5 {
					t.Errorf("item = %+v", it)
				}
				return
			}
			if want := `accounts file: account "acme": ` + tc.want; err == nil || err.Error() != want {
				t.Errorf("ParseFile() error = %v,\nwant %s", err, want)
			}
		})
	}
}
