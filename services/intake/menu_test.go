package intake

import (
	"testing"

	"github.com/crossdock/crossdock/services/accounts"
)

func TestMenu(t *testing.T) {
	tiers := accounts.DefaultTiers()
	tests := []struct {
		tier      accounts.Tier
		eventType string
		service   string
		ok        bool
	}{
		{accounts.Strategic, "crossdock.order.placed.v1", "orders", true},
		{accounts.Stable, "crossdock.order.placed.v1", "orders", true},
		{accounts.Stable, "crossdock.shipment.dispatched.v1", "orders", true},
		{accounts.Strategic, "crossdock.inventory.reported.v1", "vmi", true},
		{accounts.Integrated, "crossdock.inventory.reported.v1", "vmi", true},
		{accounts.Emerging, "crossdock.inventory.reported.v1", "vmi", false},
		{accounts.Stable, "crossdock.inventory.reported.v1", "vmi", false},
		{accounts.Strategic, "crossdock.rfid.observed.v1", "rfid", true},
		{accounts.Integrated, "crossdock.rfid.observed.v1", "rfid", true},
		{accounts.Emerging, "crossdock.rfid.observed.v1", "rfid", false},
		{accounts.Stable, "crossdock.rfid.observed.v1", "rfid", false},
		{accounts.Strategic, "crossdock.order.accepted.v1", "", false},
		{accounts.Strategic, "crossdock.forecast.shared.v1", "planning", true},
		{accounts.Integrated, "crossdock.forecast.shared.v1", "planning", false},
		{accounts.Emerging, "crossdock.forecast.shared.v1", "planning", false},
		{accounts.Stable, "crossdock.forecast.shared.v1", "planning", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.tier)+" "+tc.eventType, func(t *testing.T) {
			service, ok := Menu(tiers[tc.tier], tc.eventType)
			if service != tc.service || ok != tc.ok {
				t.Errorf("Menu(%s, %s) = %s, %v; want %s, %v", tc.tier, tc.eventType, service, ok, tc.service, tc.ok)
			}
		})
	}
}
