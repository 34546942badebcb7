package rfid

import (
	"testing"
	"time"

	"github.com/crossdock/crossdock/services/accounts"
)

func TestSiteOf(t *testing.T) {
	acme := &accounts.Account{
		ID:        "acme",
		Locations: []accounts.Location{{GLN: "0614141000005", Type: "dc"}, {GLN: "0614141000012", Type: "store"}},
		Readers: []accounts.Reader{{ID: "dock-1", Location: "0614141000005", ReadPoint: "urn:epc:id:sgln:0614141.00000.dock1",
			BizStep: "receiving", Disposition: "in_progress", Dedupe: accounts.Duration(time.Minute)}},
	}
	policy := accounts.Policy{RFID: "on"}
	slow := accounts.Policy{RFID: "on", RFIDDedupeWindow: accounts.Duration(20 * time.Second)}
	cases := []struct {
		name      string
		policy    accounts.Policy
		reader    string
		readPoint string
		code      string
		bizStep   string
		window    time.Duration
	}{
		{"an unconfigured reader at a location's GLN observes with the default window", policy, "r9", "0614141000005", "", "observing", DefaultWindow},
		{"an unconfigured reader at an SGLN of a location is accepted", policy, "r9", "urn:epc:id:sgln:0614141.00001.shelf", "", "observing", DefaultWindow},
		{"the policy's window applies to unconfigured readers", slow, "r9", "0614141000012", "", "observing", 20 * time.Second},
		{"a configured reader gets its step and window", slow, "dock-1", "urn:epc:id:sgln:0614141.00000.dock1", "", "receiving", time.Minute},
		{"a configured reader elsewhere is refused", policy, "dock-1", "urn:epc:id:sgln:0614141.00000.dock2", "unknown_read_point", "", 0},
		{"a GLN of no location of the account is refused", policy, "r9", "0614141000029", "unknown_read_point", "", 0},
		{"an SGLN of no location of the account is refused", policy, "r9", "urn:epc:id:sgln:0614141.00009.0", "unknown_read_point", "", 0},
		{"a GLN with a bad check digit is refused", policy, "r9", "0614141000006", "unknown_read_point", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, rej := siteOf(acme, tc.policy, &Observed{Reader: tc.reader, ReadPoint: tc.readPoint})
			if tc.code != "" {
				if rej == nil || rej.Code() != tc.code || rej.Problems[0].Field != "read_point" {
					t.Fatalf("siteOf = %+v, %v; want %s at read_point", st, rej, tc.code)
				}
				return
			}
			if rej != nil {
				t.Fatalf("siteOf: %v", rej)
			}
			if st.bizStep != tc.bizStep || st.window != tc.window {
				t.Errorf("siteOf = %+v, want bizStep %s, window %s", st, tc.bizStep, tc.window)
			}
		})
	}
}
