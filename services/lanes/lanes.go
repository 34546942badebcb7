// Package lanes runs a service's tier lanes (DESIGN.md, "Tier lanes"): one
// durable consumer per lane on XD_ROUTED, filtered to the routed subjects of
// the tiers in that lane, each with its own workers and in-flight limit, so
// that a flood in one lane leaves the latency of the others alone. The
// orders, VMI and RFID services consume through it.
package lanes

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Size sizes one lane's consumer.
type Size struct {
	Workers       int // messages handled at once in this process; zero means DefaultWorkers
	MaxAckPending int // messages in flight across all processes; zero means 64 per worker
}

// DefaultWorkers are a lane's workers in one process when its Size names
// none: the priority lane gets the most, so that strategic accounts are
// served first when the machine is busy.
var DefaultWorkers = map[accounts.Lane]int{accounts.Priority: 8, accounts.Standard: 4, accounts.Bulk: 2}

// Consumer is what one service consumes in its lanes.
type Consumer struct {
	Service string                 // durable names are <Service>-<lane>
	Source  string                 // CloudEvents source of the rejections it makes
	Names   []string               // event names it takes, e.g. order.placed
	Sizes   map[accounts.Lane]Size // per lane; missing lanes get the defaults
	Handler bus.Handler            // decides what each event produces
	// Governor, when set, slows the bulk lane while the priority lane has
	// work and the process is short of CPU.
	Governor *Governor
}

// Run consumes every lane that has tiers in ts until ctx ends, and runs
// beside the lanes the service's other loops (a release or schedule loop),
// returning when all have stopped. A lane or loop that fails stops the
// others at once and Run returns its error: a service with one lane dead
// must not look alive.
func Run(ctx context.Context, b *bus.Bus, ts accounts.TierSet, c Consumer, beside ...func(context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, loop := range beside {
		g.Go(func() error { return loop(ctx) })
	}
	for _, lane := range accounts.Lanes {
		tiers := ts.TiersIn(lane)
		if len(tiers) == 0 {
			continue
		}
		size := c.Sizes[lane]
		if size.Workers <= 0 {
			size.Workers = DefaultWorkers[lane]
		}
		var subjects []string
		for _, t := range tiers {
			for _, name := range c.Names {
				subjects = append(subjects, bus.RoutedSubject(string(t), "*", name))
			}
		}
		cfg := bus.ConsumerConfig{
			Stream:        bus.StreamRouted,
			Durable:       c.Service + "-" + string(lane),
			Subjects:      subjects,
			Source:        c.Source,
			Workers:       size.Workers,
			MaxAckPending: size.MaxAckPending,
			Admit:         c.Governor.Admit(lane),
		}
		lb := c.Governor.Bus(lane, b)
		g.Go(func() error { return lb.Consume(ctx, cfg, c.Handler) })
	}
	return g.Wait()
}
