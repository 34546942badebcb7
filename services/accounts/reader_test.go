package accounts

import (
	"strings"
	"testing"
)

func TestReaderConfiguration(t *testing.T) {
	base := `warehouses:
  - {id: dc-east, api_keys: ["sha256:89574c5798cbc3a30379beb836d67fa516b9a99ec245f7467d18a504f46824e7"]}
accounts:
  - id: acme
    name: ACME
    tier: strategic
    api_keys: ["sha256:d2d46cd50a6110d3e41f3a501e1469254eda0eea7709f2dae5b731a97311e269"]
    locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]
    readers:
`
	cases := []struct {
		name, reader, wantErr string
	}{
		{"a reader at an SGLN of its location is accepted", `{id: d1, location: "0614141000005", read_point: "urn:epc:id:sgln:0614141.00000.dock1", biz_step: receiving, disposition: in_progress, dedupe_window: 30s}`, ""},
		{"a reader at its location's GLN is accepted", `{id: d1, location: "0614141000005", read_point: "0614141000005"}`, ""},
		{"a reader with a URI bizStep is accepted", `{id: d1, location: "0614141000005", read_point: "0614141000005", biz_step: "https://ref.gs1.org/cbv/BizStep-receiving"}`, ""},
		{"a reader at another GLN is refused", `{id: d1, location: "0614141000012", read_point: "0614141000012"}`, "readers[0].location"},
		{"a read point elsewhere than the reader's location is refused", `{id: d1, location: "0614141000005", read_point: "urn:epc:id:sgln:0614141.00001.0"}`, "readers[0].read_point"},
		{"a read point that is no GLN is refused", `{id: d1, location: "0614141000005", read_point: "dock 1"}`, "readers[0].read_point"},
		{"a bizStep with spaces is refused", `{id: d1, location: "0614141000005", read_point: "0614141000005", biz_step: "Receiving Goods"}`, "readers[0].biz_step"},
		{"a negative window is refused", `{id: d1, location: "0614141000005", read_point: "0614141000005", dedupe_window: -1s}`, "readers[0].dedupe_window"},
		{"an unknown key is refused", `{id: d1, location: "0614141000005", read_point: "0614141000005", colour: red}`, "colour"},
		{"a reader without id is refused", `{location: "0614141000005", read_point: "0614141000005"}`, "readers[0].id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(base+"      - "+tc.reader+"\n"), DefaultTiers())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseFile: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseFile = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
	t.Run("two readers with one id are refused", func(t *testing.T) {
		r := `      - {id: d1, location: "0614141000005", read_point: "0614141000005"}` + "\n"
		if _, err := ParseFile([]byte(base+r+r), DefaultTiers()); err == nil || !strings.Contains(err.Error(), "named twice") {
			t.Errorf("ParseFile = %v, want named twice", err)
		}
	})
}

func TestReadPointGLN(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"an SGLN URI gives its GLN with the check digit", "urn:epc:id:sgln:0614141.00000.dock3", "0614141000005"},
		{"an SGLN URI with a 12-digit company prefix and no location reference", "urn:epc:id:sgln:061414100001..0", "0614141000012"},
		{"a GLN is itself", "0614141000012", "0614141000012"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ReadPointGLN(tc.in); err != nil || got != tc.want {
				t.Errorf("ReadPointGLN(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"urn:epc:id:sgln:0614141.0000.0", "0614141000006", "urn:epc:id:sgtin:0614141.812345.1", ""} {
		if got, err := ReadPointGLN(bad); err == nil {
			t.Errorf("ReadPointGLN(%q) = %s, want an error", bad, got)
		}
	}
}
