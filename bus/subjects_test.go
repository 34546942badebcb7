package bus_test

import (
	"strings"
	"testing"

	"github.com/crossdock/crossdock/bus"
)

func TestValidTokenRefusesWhatWouldWidenAFilter(t *testing.T) {
	tests := []struct {
		token string
		want  bool
	}{
		{"acme", true},
		{"dc-east", true},
		{"ship_to_not_dc", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"*", false},
		{">", false},
		{"acme.>", false},
		{"acme umbrella", false},
		{"Acme", false},
	}
	for _, tc := range tests {
		if got := bus.ValidToken(tc.token); got != tc.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tc.token, got, tc.want)
		}
	}
}
