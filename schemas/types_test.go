package schemas

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, name string
	}{
		{"crossdock.order.placed.v1", "order.placed"},
		{"crossdock.rfid.location.changed.v1", "rfid.location.changed"},
		{"crossdock.account.tier.changed.v1", "account.tier.changed"},
		{"crossdock.order.placed.v12", "order.placed"},
		{"order.placed", "order.placed"},
		{"crossdock.order.vip", "order.vip"},
		{"crossdock.order.v", "order.v"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" is named "+tc.name, func(t *testing.T) {
			if got := Name(tc.typ); got != tc.name {
				t.Errorf("Name(%q) = %q, want %q", tc.typ, got, tc.name)
			}
		})
	}
}

func TestType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ string
	}{
		{"order.placed", "crossdock.order.placed.v1"},
		{"event.rejected", "crossdock.event.rejected.v1"},
		{"rfid.location.changed", "crossdock.rfid.location.changed.v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is version 1 of "+tc.typ, func(t *testing.T) {
			if got := Type(tc.name); got != tc.typ {
				t.Errorf("Type(%q) = %q, want %q", tc.name, got, tc.typ)
			}
			if got := Name(Type(tc.name)); got != tc.name {
				t.Errorf("Name(Type(%q)) = %q, want %q", tc.name, got, tc.name)
			}
		})
	}
}

// TestCountingUnitsMatchTheSchemas: the units whose quantities the order
// schemas make whole are the ones Counts names, which the adapters check
// with line numbers.
func TestCountingUnitsMatchTheSchemas(t *testing.T) {
	for _, typ := range []string{OrderPlaced, OrderAccepted, FulfillmentRequested} {
		b, err := files.ReadFile(typ + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Defs struct {
				Line struct {
					If struct {
						Properties struct {
							Unit struct {
								Enum []string `json:"enum"`
							} `json:"unit"`
						} `json:"properties"`
					} `json:"if"`
				} `json:"line"`
			} `json:"$defs"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if got := doc.Defs.Line.If.Properties.Unit.Enum; !slices.Equal(got, countingUnits) {
			t.Errorf("%s counts %v, Counts %v", typ, got, countingUnits)
		}
	}
	if !Counts("EA") || Counts("KGM") {
		t.Error("Counts: EA counts, KGM measures")
	}
}
