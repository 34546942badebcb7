package schemas

import "testing"

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
