// Package router moves checked events into their tier lanes. It consumes
// XD_IN, runs the intake checks on each event (NATS publishes arrive
// unchecked), looks up the account's effective policy and refuses what is
// not in the tier's menu. An event for a service that runs in this process
// it hands straight to that service's handler in its lane's consumer (fused
// lanes: Config.Local); any other it republishes unchanged (same id) on
// xd.routed.<tier>.<account>.<name>, where that service consumes it.
package router

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/lanes"
)

// Config configures the router. The zero value is ready for use.
type Config struct {
	Workers       int // messages routed at once per lane in this process; zero means lanes.DefaultWorkers
	MaxAckPending int // messages in flight per lane across all processes; zero means 64 per worker
	// Governor, when set, slows the bulk lane while priority events flow
	// and the process is short of CPU.
	Governor *lanes.Governor
	// Local holds the handlers of the services that run in this process,
	// by the service names of intake.Menu. A checked event for one of them
	// is handed to its handler by the lane consumer that took it from XD_IN,
	// and XD_IN's message is acked once what the handler produces is
	// stored, as the service's own consumer would: no second write to
	// XD_ROUTED and no second delivery (k = 4 for an order,
	// docs/performance.md). Events for other services, and every event of
	// an account whose experiments mirror its checked events from
	// XD_ROUTED, are republished there. Filled before Run; nil routes
	// everything through XD_ROUTED.
	Local map[string]bus.Handler
}

// Service is the router.
type Service struct {
	cfg   Config
	bus   *bus.Bus
	reg   *accounts.Registry
	check *intake.Checker
	log   *zap.Logger

	lanes  []*lane
	claims claims
}

// New returns the router.
func New(cfg Config, b *bus.Bus, reg *accounts.Registry, check *intake.Checker, log *zap.Logger) *Service {
	s := &Service{cfg: cfg, bus: b, reg: reg, check: check, log: log}
	for _, l := range accounts.Lanes {
		s.lanes = append(s.lanes, &lane{name: l, durable: "router-" + string(l),
			follow: &bus.Follower{Want: func() []string { return s.wanted(l) }, Handover: true, Idle: noAccounts}})
	}
	return s
}

// Run routes until ctx ends: one intake consumer per lane, its filter kept
// in step with the registry, and the sweep of what no lane covers. One of them failing stops the
// others, and Run returns its error.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range s.lanes {
		workers := s.cfg.Workers
		if workers <= 0 {
			workers = lanes.DefaultWorkers[l.name]
		}
		cfg := bus.ConsumerConfig{
			Stream:        bus.StreamIn,
			Durable:       l.durable,
			Follow:        l.follow,
			Source:        "/crossdock/router",
			Workers:       workers,
			MaxAckPending: s.cfg.MaxAckPending,
			Admit:         s.cfg.Governor.Admit(l.name),
			// An event that a lane and the sweep both refuse is
			// dead-lettered once, under the sweep's name.
			Letters: sweepDurable,
		}
		lb := s.cfg.Governor.Bus(l.name, s.bus)
		g.Go(func() error {
			return lb.Consume(ctx, cfg, func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				return s.routeLane(ctx, d, l.durable)
			})
		})
	}
	g.Go(func() error { return s.runSweep(ctx) })
	return g.Wait()
}

// routeLane is the handler of the intake consumer durable of one lane.
func (s *Service) routeLane(ctx context.Context, d *bus.Delivery, durable string) ([]bus.Outgoing, error) {
	if !s.claims.take(d.Seq, durable) {
		return nil, nil
	}
	return s.route(ctx, d, s.sealed(d))
}

// sweep is the handler of the events the sweep reads, those no lane covers
// (see sweep.go). They come undecoded, and are dispatched as a lane
// dispatches them.
func (s *Service) sweep(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	if !s.claims.take(d.Seq, sweepDurable) {
		return nil, nil
	}
	if d.Event == nil {
		ev, err := bus.Decode(&nats.Msg{Subject: d.Subject, Header: d.Header, Data: d.Data})
		if err != nil {
			var de *bus.DecodeError
			code, field := bus.CodeSchemaViolation, ""
			if errors.As(err, &de) {
				code, field = de.Code, de.Field
			}
			return nil, bus.Reject(code, err.Error(), field)
		}
		dd := *d
		dd.Event = ev
		d = &dd
	}
	return s.route(ctx, d, s.sealed(d))
}

// sealed reports whether the gateway of this process checked the event
// already (HTTP intake): the router then dispatches it without checking it
// again.
func (s *Service) sealed(d *bus.Delivery) bool {
	seal := d.Header.Get(intake.HeaderRouted)
	return seal != "" && s.check.Sealed(d.Header.Get(jetstream.MsgIDHeader), d.Data, seal)
}

// Handle checks and routes one event from XD_IN.
func (s *Service) Handle(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	return s.route(ctx, d, false)
}

// route checks one event from XD_IN unless checked (the gateway of this
// process sealed it), then hands it to its service's handler when that
// service runs here, or republishes it to its lane in XD_ROUTED.
func (s *Service) route(ctx context.Context, d *bus.Delivery, checked bool) ([]bus.Outgoing, error) {
	ev := d.Event
	if !checked {
		if ps := s.check.Check(ev, bus.SenderOf(nil, d.Subject), d.Size); len(ps) > 0 {
			return nil, &bus.Rejection{Problems: ps}
		}
	}
	account := bus.Account(ev)
	entry, ok := s.reg.Account(account)
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", account), "account")
	}
	service, ok := intake.Menu(entry.Policy, ev.Type())
	if !ok {
		msg := fmt.Sprintf("%s goes to the %s service, which the %s tier does not include", ev.Type(), service, entry.Account.Tier)
		if service == "" {
			msg = fmt.Sprintf("%s is not taken by any service", ev.Type())
		}
		return nil, bus.Reject(bus.CodeNotInTierMenu, msg, "type")
	}
	if h := s.cfg.Local[service]; h != nil && !mirrorsIntake(entry) {
		return h(ctx, d)
	}
	return []bus.Outgoing{{Subject: bus.RoutedSubject(string(entry.Account.Tier), account, bus.Name(ev.Type())), Event: ev}}, nil
}

// mirrorsIntake reports whether the account's experiments run, and so the
// experiment mirror copies its checked events out of XD_ROUTED
// (delivery.Mirrors): those events keep their lane copy.
func mirrorsIntake(e *accounts.Entry) bool {
	return e.Policy.Experiments == "allowed" && len(e.Account.Experiments) > 0
}
