package systemtest

import (
	"context"
	"sync"
	"testing"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/hub/hubtest"
)

// testHub is a hub started in this process for one test, with what the
// system tests ask of it beyond hubtest's: the hub itself (to cut it off or
// see it stop) and its durable consumers, remembered (durables).
type testHub struct {
	*hubtest.Hub
	proc *hub.Hub

	mu      sync.Mutex
	durable map[string][]string // by stream, once listed (durables)
}

// start starts a hub with cfg and stops it when the test ends.
func start(t testing.TB, cfg hub.Config) *testHub {
	t.Helper()
	h, err := hub.Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	return &testHub{Hub: hubtest.Attach(t, h), proc: h}
}
