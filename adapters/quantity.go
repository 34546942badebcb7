package adapters

import (
	"fmt"
	"math"

	"github.com/crossdock/crossdock/schemas"
)

// CheckWhole reports why quantity q cannot be in unit, or nil: a unit that
// counts (EA, CS, …; schemas.Counts) takes whole numbers only. Adapters
// check it themselves, like CheckGTIN, so that the error names the line or
// segment rather than a field of the event.
func CheckWhole(q float64, unit string) error {
	if schemas.Counts(unit) && q != math.Trunc(q) {
		return fmt.Errorf("%s is not a whole number: %s counts units; fractions are for measured units such as KGM", fmt.Sprint(q), unit)
	}
	return nil
}
