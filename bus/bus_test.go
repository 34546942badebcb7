package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// TestSetupDuplicateWindow: the streams get the default window, and a
// process started with another changes them to it (Setup updates).
func TestSetupDuplicateWindow(t *testing.T) {
	s := bustest.RunServer(t, "")
	ctx := context.Background()
	for _, c := range []struct {
		set, want time.Duration
	}{{0, bus.DuplicateWindow}, {3 * time.Minute, 3 * time.Minute}} {
		b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{DuplicateWindow: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut} {
			st, err := b.JetStream().Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.CachedInfo().Config.Duplicates; got != c.want {
				t.Errorf("option %s: %s duplicate window %s, want %s", c.set, name, got, c.want)
			}
		}
	}
}
