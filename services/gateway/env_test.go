package gateway

import (
	"encoding/json"
	"testing"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/intake/intaketest"
)

// The API keys of the test accounts file; the file holds their digests.
const (
	keyAcme     = "test-key-acme"
	keyUmbrella = "test-key-umbrella"
	keyDCEast   = "test-key-dc-east"
)

// accountsYAML is the accounts file every gateway test runs with: acme
// (strategic) has a DC served by dc-east; umbrella (stable) is served only
// by dc-west, so dc-east ships nothing for it.
var accountsYAML = `
warehouses:
  - id: dc-east
    api_keys: ["` + accounts.HashKey(keyDCEast) + `"]
  - id: dc-west
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: ["` + accounts.HashKey(keyAcme) + `"]
    locations:
      - {gln: "0614141000005", type: dc, warehouse: dc-east}
  - id: umbrella
    name: Umbrella Corp
    tier: stable
    api_keys: ["` + accounts.HashKey(keyUmbrella) + `"]
    locations:
      - {gln: "0614141000029", type: dc, warehouse: dc-west}
`

// env is what a gateway runs on: a real embedded NATS server with the hub's
// streams, an account registry holding accountsYAML, and the schemas.
type env struct {
	bus     *bus.Bus
	reg     *accounts.Registry
	schemas *schemas.Validator
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, accountsYAML)
}

// newEnvWith is newEnv with another accounts file.
func newEnvWith(t testing.TB, accountsYAML string) *env {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg := accountstest.Registry(t, b, accountsYAML)
	v, err := schemas.New()
	if err != nil {
		t.Fatalf("schemas.New: %v", err)
	}
	return &env{bus: b, reg: reg, schemas: v}
}

// The events of intaketest, named short for the tables.
var (
	newEvent  = intaketest.Event
	orderData = intaketest.OrderData
	order     = intaketest.Order
	shipment  = intaketest.Shipment
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}
