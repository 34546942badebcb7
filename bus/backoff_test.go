package bus

import (
	"slices"
	"testing"
	"time"
)

// TestAConsumerWithoutABackoffTakesTheBussOwn checks the delays Consume
// retries with: a consumer that sets none retries with Options.Backoff
// (the hub's tests that kill a node set it short), or DefaultBackoff when
// the bus has none; one that sets its own keeps it. (Unlike AckWait, the
// server is never told the delays: the bus naks with them.)
func TestAConsumerWithoutABackoffTakesTheBussOwn(t *testing.T) {
	t.Parallel()
	short := []time.Duration{time.Second, 2 * time.Second}
	own := []time.Duration{3 * time.Second}
	for _, c := range []struct {
		name          string
		bus, consumer []time.Duration
		want          []time.Duration
	}{
		{"neither sets one", nil, nil, DefaultBackoff()},
		{"the bus sets one", short, nil, short},
		{"the consumer's own wins", short, own, own},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ConsumerConfig{Backoff: c.consumer}
			cfg.defaults(0, c.bus)
			if !slices.Equal(cfg.Backoff, c.want) {
				t.Errorf("Backoff = %v, want %v", cfg.Backoff, c.want)
			}
		})
	}
}
