package bus

import "testing"

func TestSenderOfRawSubjects(t *testing.T) {
	tests := []struct {
		name, subject string
		want          Sender
	}{
		{"an account's file is the account's", "xd.raw.acme.x12", Sender{Account: "acme"}},
		{"a warehouse's file is the warehouse's", "xd.raw.wh.dc-east.x12", Sender{Warehouse: "dc-east"}},
		{"an intake event is still its account's", "xd.in.acme.order.placed", Sender{Account: "acme"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SenderOf(nil, tc.subject); got != tc.want {
				t.Errorf("SenderOf(%q) = %+v, want %+v", tc.subject, got, tc.want)
			}
		})
	}
}
