// Package accountstest gives a service's tests what the hub gives the
// service: an account registry on a real bus, holding an accounts file the
// test writes inline, with the built-in tiers.
package accountstest

import (
	"context"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

// Registry returns a registry on b holding the accounts file accountsYAML.
// Changes made through it are visible at once; a test that needs those of
// another process runs its Run.
func Registry(t testing.TB, b *bus.Bus, accountsYAML string) *accounts.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := accounts.NewRegistry(ctx, b, accounts.DefaultTiers(), bustest.Logger(t))
	if err != nil {
		t.Fatalf("account registry: %v", err)
	}
	Apply(t, reg, accountsYAML)
	return reg
}

// Apply makes reg hold the accounts file accountsYAML, as a reload does.
func Apply(t testing.TB, reg *accounts.Registry, accountsYAML string) {
	t.Helper()
	f, err := accounts.ParseFile([]byte(accountsYAML), accounts.DefaultTiers())
	if err != nil {
		t.Fatalf("accounts file: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := reg.Apply(ctx, f); err != nil {
		t.Fatalf("apply accounts file: %v", err)
	}
}
