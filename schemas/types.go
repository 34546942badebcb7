package schemas

import "strings"

// The hub's event types (CONTRACT.md section 2), written once: every package
// that makes or branches on an event names its type with these, and each
// (but EDIDocument, whose data is not JSON) has its schema in this package.
const (
	OrderPlaced            = "crossdock.order.placed.v1"
	OrderAccepted          = "crossdock.order.accepted.v1"
	OrderRejected          = "crossdock.order.rejected.v1"
	OrderHeld              = "crossdock.order.held.v1"
	FulfillmentRequested   = "crossdock.fulfillment.requested.v1"
	InventoryReported      = "crossdock.inventory.reported.v1"
	ReplenishmentRequested = "crossdock.replenishment.requested.v1"
	ShipmentDispatched     = "crossdock.shipment.dispatched.v1"
	RFIDObserved           = "crossdock.rfid.observed.v1"
	EPCISCaptured          = "crossdock.epcis.captured.v1"
	RFIDLocationChanged    = "crossdock.rfid.location.changed.v1"
	EventRejected          = "crossdock.event.rejected.v1"
	AccountTierChanged     = "crossdock.account.tier.changed.v1"
	ForecastShared         = "crossdock.forecast.shared.v1"
	ForecastException      = "crossdock.forecast.exception.v1"
	// EDIDocument carries a partner-format document (an X12 interchange) as
	// its data, for accounts that want their answers in EDI.
	EDIDocument = "crossdock.edi.document.v1"
)

// Name is the short name of an event type used in subjects: the type without
// its "crossdock." prefix and ".vN" suffix ("order.placed").
func Name(eventType string) string {
	n := strings.TrimPrefix(eventType, "crossdock.")
	if i := strings.LastIndex(n, ".v"); i > 0 && i+2 < len(n) && strings.Trim(n[i+2:], "0123456789") == "" {
		n = n[:i]
	}
	return n
}

// Type is the inverse of Name for version 1 of a type ("order.placed" →
// "crossdock.order.placed.v1").
func Type(name string) string { return "crossdock." + name + ".v1" }

// countingUnits are the units of measure that count things (UN/ECE
// Recommendation 20, and the X12 codes the adapters keep): an order line's
// quantity in one of them is a whole number; other units are measures and
// may have fractions (12.5 KGM). The order schemas' "if" lists the same
// codes (TestCountingUnitsMatchTheSchemas).
var countingUnits = []string{"EA", "C62", "H87", "PCE", "NAR", "NPR", "PR", "SET", "DZN", "CS", "CA", "CT", "BX", "PK", "PF", "PX"}

// Counts reports whether unit counts things, so that its quantities are
// whole numbers.
func Counts(unit string) bool {
	for _, u := range countingUnits {
		if u == unit {
			return true
		}
	}
	return false
}
