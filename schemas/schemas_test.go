package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crossdock/crossdock/schemas"
)

// eventTypes are the event types of CONTRACT.md section 2.
var eventTypes = []string{
	"crossdock.order.placed.v1",
	"crossdock.order.accepted.v1",
	"crossdock.order.rejected.v1",
	"crossdock.order.held.v1",
	"crossdock.fulfillment.requested.v1",
	"crossdock.inventory.reported.v1",
	"crossdock.replenishment.requested.v1",
	"crossdock.shipment.dispatched.v1",
	"crossdock.rfid.observed.v1",
	"crossdock.epcis.captured.v1",
	"crossdock.rfid.location.changed.v1",
	"crossdock.event.rejected.v1",
	"crossdock.account.tier.changed.v1",
	"crossdock.forecast.shared.v1",
	"crossdock.forecast.exception.v1",
}

const (
	orderPlaced    = "crossdock.order.placed.v1"
	inventory      = "crossdock.inventory.reported.v1"
	shipment       = "crossdock.shipment.dispatched.v1"
	rfidObserved   = "crossdock.rfid.observed.v1"
	orderAccepted  = "crossdock.order.accepted.v1"
	tierChanged    = "crossdock.account.tier.changed.v1"
	eventRejected  = "crossdock.event.rejected.v1"
	epcisCaptured  = "crossdock.epcis.captured.v1"
	locationChange = "crossdock.rfid.location.changed.v1"
	replenishment  = "crossdock.replenishment.requested.v1"
	forecast       = "crossdock.forecast.shared.v1"
)

// week returns bucket j of forecast line i.
func week(m map[string]any, i, j int) map[string]any {
	return line(m, i)["weeks"].([]any)[j].(map[string]any)
}

// gs1 appends the GS1 mod-10 check digit to digits (7, 11, 12 or 13 of them
// for a GTIN, 12 for a GLN, 17 for an SSCC). It pads to 17 digits and weighs
// them 3, 1, 3, … from the left, as the GS1 General Specifications table
// does, independently of the package's right-to-left loop.
func gs1(digits string) string {
	padded := strings.Repeat("0", 17-len(digits)) + digits
	sum := 0
	for i, c := range padded {
		w := 1
		if i%2 == 0 {
			w = 3
		}
		sum += int(c-'0') * w
	}
	return digits + strconv.Itoa((10-sum%10)%10)
}

// wrongCheckDigit returns a GS1 number like gs1(digits) but with a check digit
// that is off by one.
func wrongCheckDigit(digits string) string {
	good := gs1(digits)
	d := (int(good[len(good)-1]-'0') + 1) % 10
	return digits + strconv.Itoa(d)
}

func TestGS1CheckDigitHelper(t *testing.T) {
	t.Parallel()
	// Published examples: EAN-13 of a Stabilo pen, UPC-A from the GS1 US
	// guide, and the GLN and GTINs that CONTRACT.md and testdata use.
	for _, want := range []string{"4006381333931", "036000291452", "0614141000005", "0614141000012", "00614141123452", "614141123452", "95012346", "006141410000009176"} {
		if got := gs1(want[:len(want)-1]); got != want {
			t.Errorf("gs1(%q) = %q, want %q", want[:len(want)-1], got, want)
		}
	}
}

func newValidator(t testing.TB) *schemas.Validator {
	t.Helper()
	v, err := schemas.New()
	if err != nil {
		t.Fatalf("New() error: %v", err)
	}
	return v
}

func readValid(t testing.TB, eventType string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "valid", eventType+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns the valid example of eventType changed by f.
func edit(t testing.TB, eventType string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readValid(t, eventType), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func line(m map[string]any, i int) map[string]any {
	return m["lines"].([]any)[i].(map[string]any)
}

func item(m map[string]any, key string, i int) map[string]any {
	return m[key].([]any)[i].(map[string]any)
}

func orderLine(n int, gtin string) map[string]any {
	return map[string]any{"line": n, "gtin": gtin, "quantity": 1, "unit": "EA"}
}

func TestSchemaFilesMatchTheContract(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			files = append(files, name)
		}
	}
	want := slices.Sorted(slices.Values(eventTypes))
	if !slices.Equal(files, want) {
		t.Errorf("schema files %v, want one per contract type %v", files, want)
	}
	v := newValidator(t)
	if got := v.Types(); !slices.Equal(got, want) {
		t.Errorf("Types() = %v, want %v", got, want)
	}
	for _, typ := range eventTypes {
		if !v.Known(typ) {
			t.Errorf("Known(%q) = false, want true", typ)
		}
		if _, err := os.Stat(filepath.Join("testdata", "valid", typ+".json")); err != nil {
			t.Errorf("no valid example for %s: %v", typ, err)
		}
	}
	if v.Known("crossdock.order.placed.v2") {
		t.Errorf("Known(%q) = true, want false", "crossdock.order.placed.v2")
	}
}

func TestSchemaReturnsTheRawSchema(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	for _, typ := range eventTypes {
		t.Run("the schema of "+typ+" is a 2020-12 schema titled with its type", func(t *testing.T) {
			b, ok := v.Schema(typ)
			if !ok {
				t.Fatalf("Schema(%q) found nothing", typ)
			}
			var doc struct {
				Schema string `json:"$schema"`
				Title  string `json:"title"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("Schema(%q) is not JSON: %v", typ, err)
			}
			if doc.Schema != "https://json-schema.org/draft/2020-12/schema" || doc.Title != typ {
				t.Errorf("Schema(%q) has $schema %q and title %q", typ, doc.Schema, doc.Title)
			}
			b[0] = 'X' // a caller's change must not reach the validator
			if again, _ := v.Schema(typ); again[0] != '{' {
				t.Errorf("Schema(%q) returned the validator's own bytes", typ)
			}
		})
	}
	if _, ok := v.Schema("crossdock.nothing.v1"); ok {
		t.Errorf("Schema of an unknown type found something")
	}
}

func TestValidateAcceptsValidData(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	type testCase struct {
		name string
		typ  string
		data []byte
	}
	var tests []testCase
	for _, typ := range eventTypes {
		tests = append(tests, testCase{"the valid example of " + typ + " passes", typ, readValid(t, typ)})
	}
	tests = append(tests, []testCase{
		{"an order for factory pickup passes", orderPlaced, edit(t, orderPlaced, func(m map[string]any) {
			m["pickup"] = "factory"
		})},
		{"an order with GTIN-8, GTIN-12, GTIN-13 and GTIN-14 lines passes", orderPlaced, edit(t, orderPlaced, func(m map[string]any) {
			m["lines"] = []any{
				orderLine(1, gs1("9501234")),
				orderLine(2, gs1("61414112345")),
				orderLine(3, gs1("950600013435")),
				orderLine(4, gs1("1061414112345")),
			}
		})},
		{"an order with a non-ASCII PO number passes", orderPlaced, edit(t, orderPlaced, func(m map[string]any) {
			m["po_number"] = "Bestellung Ä-17/2025"
		})},
		{"an order with 35-character PO number passes", orderPlaced, edit(t, orderPlaced, func(m map[string]any) {
			m["po_number"] = strings.Repeat("9", 35)
		})},
		{"a line number written as 2.0 passes", orderPlaced, edit(t, orderPlaced, func(m map[string]any) {
			line(m, 1)["line"] = json.Number("2.0")
		})},
		{"an inventory report without the optional counts passes", inventory, edit(t, inventory, func(m map[string]any) {
			m["items"] = []any{map[string]any{"gtin": gs1("0061414112345"), "on_hand": 0}}
		})},
		{"an RFID batch whose read point is a GLN passes", rfidObserved, edit(t, rfidObserved, func(m map[string]any) {
			m["read_point"] = gs1("061414100002")
		})},
		{"an RFID read with only epc and time passes", rfidObserved, edit(t, rfidObserved, func(m map[string]any) {
			m["reads"] = []any{map[string]any{"epc": "E2801160600002054F8B5C13", "time": "2025-04-10T13:22:07+02:00"}}
		})},
		{"a shipment for a replenishment with bare lines passes", shipment, edit(t, shipment, func(m map[string]any) {
			delete(m, "order_id")
			delete(m, "sscc")
			delete(m, "carrier")
			m["replenishment_id"] = "rep-4b1e9d02"
			m["lines"] = []any{map[string]any{"gtin": gs1("0061414112345"), "quantity": 48}}
		})},
		{"an AggregationEvent with more EPCIS fields passes", epcisCaptured, edit(t, epcisCaptured, func(m map[string]any) {
			m["type"] = "AggregationEvent"
			m["parentID"] = "urn:epc:id:sscc:0614141.1234567890"
			m["childEPCs"] = []any{"urn:epc:id:sgtin:0614141.812345.6789"}
		})},
		{"a rejection of an event whose type could not be read passes", eventRejected, edit(t, eventRejected, func(m map[string]any) {
			m["rejected_type"] = ""
		})},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Validate(tc.typ, tc.data); err != nil {
				t.Errorf("Validate(%s, %s) = %v, want nil", tc.typ, tc.data, err)
			}
		})
	}
}

func TestValidateNamesTheField(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		name string
		typ  string
		data []byte
		// want is every violation's field, in order, and a piece of the
		// first one's message ("" to check only that there is one).
		wantFields []string
		wantIn     string
	}{
		// crossdock.order.placed.v1
		{"an order without a PO number names po_number", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { delete(m, "po_number") }),
			[]string{"po_number"}, `missing required field "po_number"`},
		{"an order line without a unit names that line's unit", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { delete(line(m, 0), "unit") }),
			[]string{"lines[0].unit"}, `missing required field "unit"`},
		{"a quantity sent as a string names the quantity", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 1)["quantity"] = "6" }),
			[]string{"lines[1].quantity"}, `must be a number, not the string "6"`},
		{"a fractional line number names the line", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 2)["line"] = 2.5 }),
			[]string{"lines[2].line"}, "must be an integer"},
		{"line number zero names the line", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["line"] = 0 }),
			[]string{"lines[0].line"}, "must be at least 1, not 0"},
		{"a fractional quantity of a unit that counts names the quantity", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["quantity"] = 2.5; line(m, 0)["unit"] = "EA" }),
			[]string{"lines[0].quantity"}, "2.5 is not a whole number"},
		{"a zero quantity names the quantity", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["quantity"] = 0 }),
			[]string{"lines[0].quantity"}, "must be greater than 0, not 0"},
		{"a GTIN with a wrong check digit says which digit is right", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 2)["gtin"] = wrongCheckDigit("0061414112345") }),
			[]string{"lines[2].gtin"}, `is not a valid GTIN: check digit should be ` + gs1("0061414112345")[13:]},
		{"a GTIN of 7 digits names the GTIN", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["gtin"] = "9501234" }),
			[]string{"lines[0].gtin"}, "must be 8, 12, 13 or 14 digits"},
		{"a GTIN sent as a number says to quote it", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["gtin"] = 614141123452 }),
			[]string{"lines[0].gtin"}, "quoted"},
		{"a ship-to GLN with a wrong check digit names ship_to", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["ship_to"] = wrongCheckDigit("061414100000") }),
			[]string{"ship_to"}, "is not a valid GLN: check digit should be 5"},
		{"a ship-to GLN of 12 digits names ship_to", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["ship_to"] = "614141000005" }),
			[]string{"ship_to"}, "must be 13 digits"},
		{"a quantity over a million names the line's quantity", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 1)["quantity"] = 1_000_001 }),
			[]string{"lines[1].quantity"}, "1000000"},
		{"a quantity of zero names the line's quantity", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["quantity"] = 0 }),
			[]string{"lines[0].quantity"}, "0"},
		{"February 30th names the requested date", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["requested_date"] = "2025-02-30" }),
			[]string{"requested_date"}, `"2025-02-30" is not a valid date`},
		{"a requested date in US style names the requested date", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["requested_date"] = "04/14/2025" }),
			[]string{"requested_date"}, "YYYY-MM-DD"},
		{"an unknown field in the order names itself", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["colour"] = "red" }),
			[]string{"colour"}, `unknown field "colour"`},
		{"an unknown field in a line names itself", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["colour"] = "red" }),
			[]string{"lines[0].colour"}, `unknown field "colour"`},
		{"an unknown field with an odd name is quoted", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["ship to"] = "x" }),
			[]string{`["ship to"]`}, `unknown field "ship to"`},
		{"an order without lines names lines", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["lines"] = []any{} }),
			[]string{"lines"}, "must not be empty"},
		{"a repeated line number names the second line", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) {
				m["lines"] = []any{orderLine(1, gs1("0061414112345")), orderLine(7, gs1("0061414112346")), orderLine(3, gs1("9501234")), orderLine(7, gs1("61414112345"))}
			}),
			[]string{"lines[3].line"}, "duplicate line number 7"},
		{"line numbers 7 and 7.0 are the same line", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) {
				l := orderLine(0, gs1("9501234"))
				l["line"] = json.Number("1.0")
				m["lines"] = []any{orderLine(1, gs1("0061414112345")), l}
			}),
			[]string{"lines[1].line"}, "duplicate line number 1"},
		{"a lower-case unit names the unit", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["unit"] = "ea" }),
			[]string{"lines[0].unit"}, `"ea" is not a unit code`},
		{"a pickup other than factory names pickup", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["pickup"] = "truck" }),
			[]string{"pickup"}, `must be "factory"`},
		{"a PO number with a control character names po_number", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["po_number"] = "PO\a17" }),
			[]string{"po_number"}, "is not a usable PO number"},
		{"a PO number of 36 characters names po_number", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["po_number"] = strings.Repeat("9", 36) }),
			[]string{"po_number"}, "at most 35 characters"},
		{"an empty PO number names po_number", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { m["po_number"] = "" }),
			[]string{"po_number"}, "must not be empty"},
		{"a quantity of 1e9999999 is out of range", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 1)["quantity"] = json.Number("1e9999999") }),
			[]string{"lines[1].quantity"}, "the number 1e9999999 is out of range"},
		{"a line number of 101 digits is out of range", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) { line(m, 0)["line"] = json.Number("1" + strings.Repeat("0", 100)) }),
			[]string{"lines[0].line"}, "is out of range"},
		{"data that is an array is reported at the root", orderPlaced,
			[]byte(`[]`), []string{""}, "must be an object, not an array"},
		{"null data is reported at the root", orderPlaced,
			[]byte(`null`), []string{""}, "must be an object, not null"},
		{"every violation is listed, sorted by field", orderPlaced,
			edit(t, orderPlaced, func(m map[string]any) {
				delete(m, "ship_to")
				lines := make([]any, 11)
				for i := range lines {
					lines[i] = orderLine(i+1, gs1(strconv.Itoa(1000000+i)))
				}
				lines[10].(map[string]any)["gtin"] = "1"
				lines[2].(map[string]any)["gtin"] = "2"
				lines[2].(map[string]any)["unit"] = 3
				m["lines"] = lines
			}),
			[]string{"lines[2].gtin", "lines[2].unit", "lines[10].gtin", "ship_to"}, ""},

		// crossdock.inventory.reported.v1
		{"a GTIN reported twice names the second item", inventory,
			edit(t, inventory, func(m map[string]any) {
				m["items"] = append(m["items"].([]any), map[string]any{"gtin": "00614141123452", "on_hand": 3})
			}),
			[]string{"items[3].gtin"}, "duplicate GTIN 00614141123452"},
		{"a GTIN-12 and its GTIN-14 form are the same item", inventory,
			edit(t, inventory, func(m map[string]any) {
				m["items"] = []any{
					map[string]any{"gtin": gs1("61414112345"), "on_hand": 1},
					map[string]any{"gtin": gs1("0061414112346"), "on_hand": 1},
					map[string]any{"gtin": gs1("0061414112345"), "on_hand": 2},
				}
			}),
			[]string{"items[2].gtin"}, "duplicate GTIN"},
		{"a negative on-hand count names it", inventory,
			edit(t, inventory, func(m map[string]any) { item(m, "items", 1)["on_hand"] = -1 }),
			[]string{"items[1].on_hand"}, "must be at least 0, not -1"},
		{"a fractional on-order count names it", inventory,
			edit(t, inventory, func(m map[string]any) { item(m, "items", 0)["on_order"] = 1.5 }),
			[]string{"items[0].on_order"}, "must be an integer, not the number 1.5"},
		{"an item without on_hand names it", inventory,
			edit(t, inventory, func(m map[string]any) { delete(item(m, "items", 2), "on_hand") }),
			[]string{"items[2].on_hand"}, `missing required field "on_hand"`},
		{"an as-of date without a time names as_of", inventory,
			edit(t, inventory, func(m map[string]any) { m["as_of"] = "2025-04-09" }),
			[]string{"as_of"}, "is not a valid date-time"},
		{"an as-of time without a zone names as_of", inventory,
			edit(t, inventory, func(m map[string]any) { m["as_of"] = "2025-04-09T21:30:00" }),
			[]string{"as_of"}, "is not a valid date-time"},
		{"a report without a location names location", inventory,
			edit(t, inventory, func(m map[string]any) { delete(m, "location") }),
			[]string{"location"}, `missing required field "location"`},
		{"a location GLN with a wrong check digit names location", inventory,
			edit(t, inventory, func(m map[string]any) { m["location"] = wrongCheckDigit("061414100001") }),
			[]string{"location"}, "check digit should be 2"},
		{"a report without items names items", inventory,
			edit(t, inventory, func(m map[string]any) { m["items"] = []any{} }),
			[]string{"items"}, "must not be empty"},
		{"an unknown field in an item names itself", inventory,
			edit(t, inventory, func(m map[string]any) { item(m, "items", 0)["price"] = 3 }),
			[]string{"items[0].price"}, `unknown field "price"`},

		// crossdock.shipment.dispatched.v1
		{"a shipment naming both an order and a replenishment is reported at the root", shipment,
			edit(t, shipment, func(m map[string]any) { m["replenishment_id"] = "rep-4b1e9d02" }),
			[]string{""}, `has both "order_id" and "replenishment_id"`},
		{"a shipment naming neither an order nor a replenishment is reported at the root", shipment,
			edit(t, shipment, func(m map[string]any) { delete(m, "order_id") }),
			[]string{""}, `missing "order_id" or "replenishment_id"`},
		{"an SSCC of 17 digits names sscc", shipment,
			edit(t, shipment, func(m map[string]any) { m["sscc"] = "00614141000000917" }),
			[]string{"sscc"}, "is not an SSCC"},
		{"a shipment without lines names lines", shipment,
			edit(t, shipment, func(m map[string]any) { m["lines"] = []any{} }),
			[]string{"lines"}, "must not be empty"},
		{"a shipped line with a bad GTIN names it", shipment,
			edit(t, shipment, func(m map[string]any) { line(m, 1)["gtin"] = wrongCheckDigit("0061414112346") }),
			[]string{"lines[1].gtin"}, "is not a valid GTIN"},
		{"a shipment id of 65 characters names shipment_id", shipment,
			edit(t, shipment, func(m map[string]any) { m["shipment_id"] = strings.Repeat("S", 65) }),
			[]string{"shipment_id"}, "at most 64 characters"},
		{"an unknown field in a shipment names itself", shipment,
			edit(t, shipment, func(m map[string]any) { m["tracking"] = "1Z999" }),
			[]string{"tracking"}, `unknown field "tracking"`},

		// crossdock.rfid.observed.v1
		{"a read point that is neither GLN nor SGLN names read_point", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { m["read_point"] = "dock 3" }),
			[]string{"read_point"}, `"dock 3" is neither a GLN`},
		{"a read point GLN with a wrong check digit names read_point", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { m["read_point"] = wrongCheckDigit("061414100000") }),
			[]string{"read_point"}, "is neither a GLN"},
		{"an EPC of odd length names it", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { item(m, "reads", 1)["epc"] = "3074257BF7194E4000001A8" }),
			[]string{"reads[1].epc"}, "is not a hex EPC"},
		{"a read without a time names it", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { delete(item(m, "reads", 0), "time") }),
			[]string{"reads[0].time"}, `missing required field "time"`},
		{"a negative antenna names it", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { item(m, "reads", 0)["antenna"] = -1 }),
			[]string{"reads[0].antenna"}, "must be at least 0"},
		{"a batch without reads names reads", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { m["reads"] = []any{} }),
			[]string{"reads"}, "must not be empty"},
		{"an unknown field in a read names itself", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { item(m, "reads", 1)["phase"] = 0.5 }),
			[]string{"reads[1].phase"}, `unknown field "phase"`},
		{"an empty reader names reader", rfidObserved,
			edit(t, rfidObserved, func(m map[string]any) { m["reader"] = "" }),
			[]string{"reader"}, "must not be empty"},

		// Events the hub makes still need their documented fields.
		{"an accepted order without a warehouse names warehouse", orderAccepted,
			edit(t, orderAccepted, func(m map[string]any) { delete(m, "warehouse") }),
			[]string{"warehouse"}, `missing required field "warehouse"`},
		{"an accepted order with a repeated line number names the line", orderAccepted,
			edit(t, orderAccepted, func(m map[string]any) { line(m, 2)["line"] = 1 }),
			[]string{"lines[2].line"}, "duplicate line number 1"},
		{"a replenishment without a reorder point names it", replenishment,
			edit(t, replenishment, func(m map[string]any) { delete(m["reason"].(map[string]any), "reorder_point") }),
			[]string{"reason.reorder_point"}, `missing required field "reorder_point"`},
		{"an EPCIS event of another type names type", epcisCaptured,
			edit(t, epcisCaptured, func(m map[string]any) { m["type"] = "TransformationEvent" }),
			[]string{"type"}, `must be one of "ObjectEvent", "AggregationEvent"`},
		{"an EPCIS time zone offset without a colon names it", epcisCaptured,
			edit(t, epcisCaptured, func(m map[string]any) { m["eventTimeZoneOffset"] = "+0000" }),
			[]string{"eventTimeZoneOffset"}, "is not a time zone offset"},
		{"a huge number deep in an EPCIS extension names it", epcisCaptured,
			edit(t, epcisCaptured, func(m map[string]any) {
				m["quantityList"] = []any{map[string]any{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": json.Number("2E-100000")}}
			}),
			[]string{"quantityList[0].quantity"}, "is out of range"},
		{"a location change from nowhere names from", locationChange,
			edit(t, locationChange, func(m map[string]any) { m["from"] = "" }),
			[]string{"from"}, "must not be empty"},
		{"a location change of a hex EPC names epc", locationChange,
			edit(t, locationChange, func(m map[string]any) { m["epc"] = "3074257BF7194E4000001A85" }),
			[]string{"epc"}, "is not an EPC pure identity URI"},
		{"a rejection without errors names errors", eventRejected,
			edit(t, eventRejected, func(m map[string]any) { m["errors"] = []any{} }),
			[]string{"errors"}, "must not be empty"},
		{"a rejection with a code that is not snake_case names the code", eventRejected,
			edit(t, eventRejected, func(m map[string]any) { item(m, "errors", 0)["code"] = "SchemaViolation" }),
			[]string{"errors[0].code"}, "is not an error code"},
		{"a tier change to an unknown tier names to", tierChanged,
			edit(t, tierChanged, func(m map[string]any) { m["to"] = "gold" }),
			[]string{"to"}, `"gold" is not allowed: must be one of "strategic", "integrated", "emerging", "stable"`},
		{"a tier change of an account id in capitals names account", tierChanged,
			edit(t, tierChanged, func(m map[string]any) { m["account"] = "ACME" }),
			[]string{"account"}, "is not an account id"},

		// crossdock.forecast.shared.v1
		{"a negative forecast quantity names the bucket", forecast,
			edit(t, forecast, func(m map[string]any) { week(m, 0, 1)["quantity"] = -5 }),
			[]string{"lines[0].weeks[1].quantity"}, "must be at least 0, not -5"},
		{"a week written as a date names the week", forecast,
			edit(t, forecast, func(m map[string]any) { week(m, 0, 0)["week"] = "2026-12-07" }),
			[]string{"lines[0].weeks[0].week"}, `"2026-12-07" is not an ISO 8601 week`},
		{"a week named twice in a line names the second", forecast,
			edit(t, forecast, func(m map[string]any) { week(m, 0, 2)["week"] = "2026-W50" }),
			[]string{"lines[0].weeks[2].week"}, "week 2026-W50 appears twice"},
		{"a location and item forecast twice names the second line", forecast,
			edit(t, forecast, func(m map[string]any) { line(m, 1)["location"] = "0614141000005" }),
			[]string{"lines[1]"}, "forecast twice"},
		{"version zero names the version", forecast,
			edit(t, forecast, func(m map[string]any) { m["version"] = 0 }),
			[]string{"version"}, "must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.typ, tc.data)
			var verr *schemas.ViolationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate(%s, %s) = %v, want a *ViolationError", tc.typ, tc.data, err)
			}
			var fields []string
			for _, vi := range verr.Violations {
				fields = append(fields, vi.Field)
				if vi.Message == "" {
					t.Errorf("violation at %q has no message", vi.Field)
				}
				if strings.Contains(vi.Message, "://") || strings.Contains(vi.Message, "$defs") {
					t.Errorf("message %q shows the schema's insides", vi.Message)
				}
			}
			if !slices.Equal(fields, tc.wantFields) {
				t.Errorf("Validate(%s, …) fields = %q, want %q; error: %v", tc.typ, fields, tc.wantFields, err)
			}
			if got := verr.Violations[0].Message; !strings.Contains(got, tc.wantIn) {
				t.Errorf("Validate(%s, …) message = %q, want it to contain %q", tc.typ, got, tc.wantIn)
			}
		})
	}
}

func TestValidateReportsWhereJSONBreaks(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		name   string
		data   []byte
		wantIn string
	}{
		{"a missing value is reported with its offset", []byte(`{"po_number": }`), "at offset 15"},
		{"truncated data is reported at its end", []byte(`{"po_number": "PO-1"`), "unexpected end of data at offset 20"},
		{"a second value after the first is refused", []byte(`{"po_number": "PO-1"} {}`), "after the JSON value at offset 22"},
		{"a stray bracket after the value is refused", []byte("{}\n]"), "at offset 3"},
		{"empty data is refused", []byte("  \n"), "empty"},
		{"invalid UTF-8 is refused with its offset", []byte("{\"po_number\": \"PO\xff\"}"), "invalid UTF-8 at offset 17"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(orderPlaced, tc.data)
			var jerr *schemas.InvalidJSONError
			if !errors.As(err, &jerr) {
				t.Fatalf("Validate(%q) = %v, want an *InvalidJSONError", tc.data, err)
			}
			if jerr.Unwrap() == nil {
				t.Errorf("InvalidJSONError has no Err")
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("Validate(%q) = %q, want it to contain %q", tc.data, err, tc.wantIn)
			}
		})
	}
}

func TestValidateRefusesAnUnknownType(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	for _, typ := range []string{"crossdock.order.placed.v2", "", "order.placed"} {
		t.Run("type "+strconv.Quote(typ)+" is unknown", func(t *testing.T) {
			err := v.Validate(typ, readValid(t, orderPlaced))
			if !errors.Is(err, schemas.ErrUnknownType) {
				t.Fatalf("Validate(%q) = %v, want ErrUnknownType", typ, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(typ)) {
				t.Errorf("Validate(%q) = %q, want the type in the message", typ, err)
			}
		})
	}
}

func TestViolationErrorJoinsTheViolations(t *testing.T) {
	t.Parallel()
	err := &schemas.ViolationError{Violations: []schemas.Violation{
		{Field: "", Message: "must be an object, not an array"},
		{Field: "lines[0].unit", Message: `missing required field "unit"`},
	}}
	want := `invalid event data: must be an object, not an array; lines[0].unit: missing required field "unit"`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidateIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	bad := edit(t, orderPlaced, func(m map[string]any) { delete(m, "lines") })
	valid := map[string][]byte{}
	for _, typ := range eventTypes {
		valid[typ] = readValid(t, typ)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				for _, typ := range eventTypes {
					if err := v.Validate(typ, valid[typ]); err != nil {
						t.Errorf("goroutine %d: Validate(%s) = %v", i, typ, err)
					}
				}
				if err := v.Validate(orderPlaced, bad); err == nil {
					t.Errorf("goroutine %d: Validate of an order without lines passed", i)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzValidate(f *testing.F) {
	v := newValidator(f)
	for i, typ := range eventTypes {
		f.Add(uint8(i), readValid(f, typ))
	}
	f.Add(uint8(0), []byte(`{"lines":[{"line":1},{"line":1.0}]}`))
	f.Add(uint8(7), []byte(`{"shipment_id":"s","order_id":"o","replenishment_id":"r","lines":[]}`))
	f.Add(uint8(0), []byte(`{"lines":[{"line":1e9999999,"quantity":-1e-9999999}]}`))
	f.Fuzz(func(t *testing.T, i uint8, data []byte) {
		typ := eventTypes[int(i)%len(eventTypes)]
		err := v.Validate(typ, data)
		var verr *schemas.ViolationError
		var jerr *schemas.InvalidJSONError
		switch {
		case err == nil:
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil || m == nil {
				t.Fatalf("Validate(%s, %q) passed, but it is not a JSON object: %v", typ, data, err)
			}
		case errors.As(err, &verr):
			if len(verr.Violations) == 0 {
				t.Fatalf("Validate(%s, %q) = a ViolationError without violations", typ, data)
			}
			for _, vi := range verr.Violations {
				if vi.Message == "" {
					t.Fatalf("Validate(%s, %q): violation at %q has no message", typ, data, vi.Field)
				}
			}
		case errors.As(err, &jerr):
		default:
			t.Fatalf("Validate(%s, %q) = %v, of an unexpected kind", typ, data, err)
		}
	})
}

func BenchmarkValidateOrderPlaced(b *testing.B) {
	v := newValidator(b)
	var lines []any
	for i := range 5 {
		lines = append(lines, map[string]any{
			"line": i + 1, "gtin": gs1("00614141" + strconv.Itoa(12345+i)), "quantity": 12 * (i + 1), "unit": "EA",
		})
	}
	data, err := json.Marshal(map[string]any{
		"po_number": "PO-2025-000184", "ship_to": "0614141000005", "requested_date": "2025-04-14", "lines": lines,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := v.Validate(orderPlaced, data); err != nil {
		b.Fatalf("benchmark order is invalid: %v", err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Validate(orderPlaced, data); err != nil {
			b.Fatal(err)
		}
	}
}
