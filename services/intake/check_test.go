package intake_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/intake/intaketest"
)

// accountsYAML is the accounts file the checks run with: acme (strategic)
// has a DC served by dc-east; umbrella (stable) is served only by dc-west,
// so dc-east ships nothing for it.
var accountsYAML = `
warehouses:
  - id: dc-east
  - id: dc-west
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: ["` + accounts.HashKey("test-key-acme") + `"]
    locations:
      - {gln: "0614141000005", type: dc, warehouse: dc-east}
  - id: umbrella
    name: Umbrella Corp
    tier: stable
    api_keys: ["` + accounts.HashKey("test-key-umbrella") + `"]
    locations:
      - {gln: "0614141000029", type: dc, warehouse: dc-west}
`

// env is what a Checker reads: an account registry holding accountsYAML
// (kept in a real embedded NATS server's bucket) and the schemas.
type env struct {
	reg     *accounts.Registry
	schemas *schemas.Validator
}

func newEnv(t testing.TB) *env {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	v, err := schemas.New()
	if err != nil {
		t.Fatalf("schemas.New: %v", err)
	}
	return &env{reg: accountstest.Registry(t, b, accountsYAML), schemas: v}
}

// rfidData is a valid crossdock.rfid.observed.v1 data.
func rfidData() map[string]any {
	return map[string]any{
		"reader":     "dock-3",
		"read_point": "urn:epc:id:sgln:0614141.00000.dock3",
		"reads":      []any{map[string]any{"epc": "3074257BF7194E4000001A85", "antenna": 1, "time": "2026-03-02T13:22:07.250Z"}},
	}
}

// The events of intaketest, named short for the tables.
var (
	newEvent     = intaketest.Event
	orderData    = intaketest.OrderData
	shipmentData = intaketest.ShipmentData
	order        = intaketest.Order
	shipment     = intaketest.Shipment
)

// want is a problem the test expects: its code and field.
type want struct{ code, field string }

func (w want) String() string { return w.code + "@" + w.field }

func wantsOf(ps []bus.Problem) []want {
	out := make([]want, len(ps))
	for i, p := range ps {
		out[i] = want{p.Code, p.Field}
	}
	return out
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	c := intake.NewChecker(e.reg, e.schemas, 0)
	acme := bus.Sender{Account: "acme"}
	dcEast := bus.Sender{Warehouse: "dc-east"}

	badOrder := orderData()
	badOrder["requested_date"] = "16/03/2026"
	badOrder["lines"] = []any{
		map[string]any{"line": 1, "gtin": "00614141123453", "quantity": 0, "unit": "each"},
	}

	tests := []struct {
		name string
		from bus.Sender
		ev   func(t *testing.T) *event.Event
		size int // 0: the data's length
		want []want
		// wantAccount is the account extension after a Check that passed.
		wantAccount string
	}{
		{
			name:        "a valid order passes and gets the sender's account",
			from:        acme,
			ev:          func(t *testing.T) *event.Event { return order(t, "o-1") },
			wantAccount: "acme",
		},
		{
			name: "an order that already names its own account passes",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-2", "order.placed", "/accounts/acme", "acme", orderData())
			},
			wantAccount: "acme",
		},
		{
			name: "an event over the size limit is too large",
			from: acme,
			ev:   func(t *testing.T) *event.Event { return order(t, "o-3") },
			size: intake.MaxEventSize + 1,
			want: []want{{bus.CodeTooLarge, ""}},
		},
		{
			name: "an event from an account the hub does not know is refused",
			from: bus.Sender{Account: "initech"},
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-4", "order.placed", "/accounts/initech", "", orderData())
			},
			want: []want{{bus.CodeUnknownAccount, ""}},
		},
		{
			name: "an account extension naming another account is a mismatch",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-5", "order.placed", "/accounts/acme", "umbrella", orderData())
			},
			want: []want{{bus.CodeAccountMismatch, "account"}},
		},
		{
			name: "a source of another account is a mismatch",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-6", "order.placed", "/accounts/other", "", orderData())
			},
			want: []want{{bus.CodeAccountMismatch, "source"}},
		},
		{
			name: "a source that is not an account path violates the schema",
			from: acme,
			ev:   func(t *testing.T) *event.Event { return newEvent(t, "o-7", "order.placed", "/erp/x", "", orderData()) },
			want: []want{{bus.CodeSchemaViolation, "source"}},
		},
		{
			name: "a source that merely starts with the account id is a mismatch",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-8", "order.placed", "/accounts/acme-evil", "", orderData())
			},
			want: []want{{bus.CodeAccountMismatch, "source"}},
		},
		{
			name: "a reader's sub-source below the account passes",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "r-1", "rfid.observed", "/accounts/acme/readers/r1", "", rfidData())
			},
			wantAccount: "acme",
		},
		{
			name: "a type the hub has no schema for is unknown",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-9", "order.cancelled", "/accounts/acme", "", orderData())
			},
			want: []want{{bus.CodeUnknownType, "type"}},
		},
		{
			name: "a type the hub makes is unknown when an account sends it",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-10", "order.accepted", "/accounts/acme", "", orderData())
			},
			want: []want{{bus.CodeUnknownType, "type"}},
		},
		{
			name: "a shipment is unknown when an account sends it",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "s-1", "shipment.dispatched", "/accounts/acme", "", shipmentData())
			},
			want: []want{{bus.CodeUnknownType, "type"}},
		},
		{
			name:        "a shipment from dc-east for acme passes and keeps its account",
			from:        dcEast,
			ev:          func(t *testing.T) *event.Event { return shipment(t, "s-2", "acme") },
			wantAccount: "acme",
		},
		{
			name: "an order is unknown when a warehouse sends it",
			from: dcEast,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "s-3", "order.placed", "/warehouses/dc-east", "acme", orderData())
			},
			want: []want{{bus.CodeUnknownType, "type"}},
		},
		{
			name: "a warehouse shipment without an account extension violates the schema",
			from: dcEast,
			ev:   func(t *testing.T) *event.Event { return shipment(t, "s-4", "") },
			want: []want{{bus.CodeSchemaViolation, "account"}},
		},
		{
			name: "a warehouse shipment for an account it does not serve is a mismatch",
			from: dcEast,
			ev:   func(t *testing.T) *event.Event { return shipment(t, "s-5", "umbrella") },
			want: []want{{bus.CodeAccountMismatch, "account"}},
		},
		{
			name: "a warehouse shipment for an unknown account is refused",
			from: dcEast,
			ev:   func(t *testing.T) *event.Event { return shipment(t, "s-6", "initech") },
			want: []want{{bus.CodeUnknownAccount, "account"}},
		},
		{
			name: "a shipment from a warehouse the hub does not know is refused",
			from: bus.Sender{Warehouse: "dc-north"},
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "s-7", "shipment.dispatched", "/warehouses/dc-north", "acme", shipmentData())
			},
			want: []want{{bus.CodeUnknownAccount, ""}},
		},
		{
			name: "a warehouse claiming another warehouse's source is a mismatch",
			from: dcEast,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "s-8", "shipment.dispatched", "/warehouses/dc-west", "acme", shipmentData())
			},
			want: []want{{bus.CodeAccountMismatch, "source"}},
		},
		{
			name: "data that is text/plain violates the schema",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				ev := order(t, "o-11")
				if err := ev.SetData(event.TextPlain, []byte("PO-2026-000417")); err != nil {
					t.Fatalf("set data: %v", err)
				}
				return ev
			},
			want: []want{{bus.CodeSchemaViolation, "datacontenttype"}},
		},
		{
			name: "application/json with a charset passes",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				ev := order(t, "o-12")
				ev.SetDataContentType("application/json; charset=utf-8")
				return ev
			},
			wantAccount: "acme",
		},
		{
			name: "data that is not JSON is invalid_json",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				ev := order(t, "o-13")
				if err := ev.SetData(event.ApplicationJSON, []byte(`{"po_number": "PO-1",`)); err != nil {
					t.Fatalf("set data: %v", err)
				}
				return ev
			},
			want: []want{{bus.CodeInvalidJSON, "data"}},
		},
		{
			name: "every schema violation is listed with its field",
			from: acme,
			ev: func(t *testing.T) *event.Event {
				return newEvent(t, "o-14", "order.placed", "/accounts/acme", "", badOrder)
			},
			want: []want{
				{bus.CodeSchemaViolation, "data.lines[0].gtin"},
				{bus.CodeSchemaViolation, "data.lines[0].quantity"},
				{bus.CodeSchemaViolation, "data.lines[0].unit"},
				{bus.CodeSchemaViolation, "data.requested_date"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev(t)
			size := tc.size
			if size == 0 {
				size = len(ev.Data())
			}
			ps := c.Check(ev, tc.from, size)
			got := wantsOf(ps)
			slices.SortFunc(got, func(a, b want) int { return strings.Compare(a.String(), b.String()) })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Check(%s from %+v) = %v (%+v), want %v", ev.ID(), tc.from, got, ps, tc.want)
			}
			for _, p := range ps {
				if p.Message == "" {
					t.Errorf("Check(%s): problem %s has no message", ev.ID(), p.Code)
				}
			}
			if len(tc.want) == 0 {
				if a := bus.Account(ev); a != tc.wantAccount {
					t.Errorf("account extension after Check(%s) = %q, want %q", ev.ID(), a, tc.wantAccount)
				}
			}
		})
	}
}

// TestCheckNamesTheBadGTIN checks that the bad check digit is reported in words
// that say what is wrong with which line's GTIN.
func TestCheckNamesTheBadGTIN(t *testing.T) {
	e := newEnv(t)
	c := intake.NewChecker(e.reg, e.schemas, 0)
	data := orderData()
	data["lines"] = []any{map[string]any{"line": 1, "gtin": "00614141123453", "quantity": 24, "unit": "EA"}}
	ev := newEvent(t, "o-gtin", "order.placed", "/accounts/acme", "", data)
	ps := c.Check(ev, bus.Sender{Account: "acme"}, len(ev.Data()))
	if len(ps) != 1 || ps[0].Code != bus.CodeSchemaViolation || ps[0].Field != "data.lines[0].gtin" {
		t.Fatalf("Check(order with GTIN 00614141123453) = %+v, want one schema_violation of data.lines[0].gtin", ps)
	}
	if !strings.Contains(ps[0].Message, "check digit") {
		t.Errorf("Check(order with GTIN 00614141123453) message = %q, want it to mention the check digit", ps[0].Message)
	}
}

// TestCheckLimit checks that the limit given to NewChecker is the one applied.
func TestCheckLimit(t *testing.T) {
	e := newEnv(t)
	ev := order(t, "o-limit")
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	size := len(b)
	tests := []struct {
		name  string
		limit int
		want  []want
	}{
		{"an event at the limit passes", size, nil},
		{"an event one byte over the limit is too large", size - 1, []want{{bus.CodeTooLarge, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := wantsOf(intake.NewChecker(e.reg, e.schemas, tc.limit).Check(order(t, "o-limit"), bus.Sender{Account: "acme"}, size))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Check(%d bytes) with limit %d = %v, want %v", size, tc.limit, got, tc.want)
			}
		})
	}
}
