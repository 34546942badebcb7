package delivery

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

func TestAnExperimentTakesItsShareOfEvents(t *testing.T) {
	tests := []struct {
		name  string
		share float64
	}{
		{name: "a tenth of 10,000 events is selected within a point and a half", share: 0.1},
		{name: "half of 10,000 events is selected within a point and a half", share: 0.5},
		{name: "one percent of 10,000 events is selected within a point and a half", share: 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for i := range 10000 {
				if Selected("showcase", fmt.Sprintf("evt-%d", i), tc.share) {
					n++
				}
			}
			if got := float64(n) / 10000; math.Abs(got-tc.share) > 0.015 {
				t.Errorf("selected %.4f of the events, want %.2f ± 0.015", got, tc.share)
			}
		})
	}
}

func TestSelectionIsDeterministicAndIndependentPerExperiment(t *testing.T) {
	same, both := 0, 0
	for i := range 2000 {
		id := fmt.Sprintf("id-%d", i)
		a := Selected("alpha", id, 0.5)
		if a != Selected("alpha", id, 0.5) {
			t.Fatalf("Selected(alpha, %s) changed between calls", id)
		}
		if a == Selected("beta", id, 0.5) {
			same++
		}
		if a && Selected("beta", id, 0.5) {
			both++
		}
	}
	if same == 2000 {
		t.Error("two experiments selected exactly the same events")
	}
	if both < 400 || both > 600 {
		t.Errorf("%d events in both halves, want about 500 (independent draws)", both)
	}
	if !Selected("x", "any", 1) || Selected("x", "any", 0) {
		t.Error("share 1 must take every event and share 0 none")
	}
}

func TestExperimentsMirrorOnlyWhereThePolicyAllowsThem(t *testing.T) {
	exp := "    experiments: [{name: showcase, types: [order.accepted], share: 1}]\n"
	e := newEnv(t, accountsFile(
		account("initech", "emerging", nil, exp),
		account("globex", "integrated", nil, exp), // experiments: none
	))
	mirrored := bustest.Watch(t, e.bus.Conn(), "xd.exp.>")
	e.start(Config{})

	e.publish("globex", "order.accepted", "g-1")
	e.publish("initech", "order.rejected", "i-0") // not a matching type
	e.publish("initech", "order.accepted", "i-1")
	ev := bustest.Next(t, mirrored, 10*time.Second)
	if ev.ID() != "i-1" || bus.Account(ev) != "initech" {
		t.Errorf("mirrored %s of %s, want i-1 of initech", ev.ID(), bus.Account(ev))
	}
	// Wait until the mirror has handled everything, then count.
	bustest.CheckFor(t, 5*time.Second, func() error {
		c, err := e.bus.JetStream().Consumer(context.Background(), bus.StreamOut, "delivery-mirror-out")
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("mirror has %d pending", info.NumPending+uint64(info.NumAckPending))
		}
		return nil
	})
	n := 0
	_ = bus.Scan(context.Background(), e.bus.JetStream(), bus.StreamOut, []string{"xd.exp.>"}, bus.From{}, func(_ jetstream.Msg, _ uint64) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d mirrored events stored, want 1 (initech's order.accepted only)", n)
	}
}
