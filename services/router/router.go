// Package router moves checked events into their tier lanes. It consumes
// XD_IN, runs the intake checks on each event (NATS publishes arrive
// unchecked), looks up the account's effective policy, refuses what is not in
// the tier's menu, and republishes the event unchanged (same id) on
// xd.routed.<tier>.<account>.<name>.
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
}

// Service is the router.
type Service struct {
	cfg   Config
	bus   *bus.Bus
	reg   *accounts.Registry
	check *intake.Checker
	log   *zap.Logger

	lanes []*lane
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
		}
		g.Go(func() error { return s.bus.Consume(ctx, cfg, s.routeLane) })
	}
	g.Go(func() error { return s.runSweep(ctx) })
	return g.Wait()
}

// routeLane is the handler of the lanes' intake consumers.
func (s *Service) routeLane(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	if s.sealed(d) {
		return nil, nil
	}
	return s.Handle(ctx, d)
}

// sweep is the handler of the events the sweep reads, those no lane covers
// (see sweep.go). They come undecoded: an event the gateway of this
// process stored in its lane already is acknowledged on its header alone.
func (s *Service) sweep(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	if s.sealed(d) {
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
	return s.Handle(ctx, d)
}

// sealed reports whether the gateway of this process checked the event and
// stored it in its lane already (HTTP intake).
func (s *Service) sealed(d *bus.Delivery) bool {
	seal := d.Header.Get(intake.HeaderRouted)
	return seal != "" && s.check.Sealed(d.Header.Get(jetstream.MsgIDHeader), d.Data, seal)
}

// Handle checks and routes one event from XD_IN.
func (s *Service) Handle(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	if ps := s.check.Check(ev, bus.SenderOf(nil, d.Subject), d.Size); len(ps) > 0 {
		return nil, &bus.Rejection{Problems: ps}
	}
	account := bus.Account(ev)
	entry, ok := s.reg.Account(account)
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", account), "account")
	}
	if service, ok := intake.Menu(entry.Policy, ev.Type()); !ok {
		msg := fmt.Sprintf("%s goes to the %s service, which the %s tier does not include", ev.Type(), service, entry.Account.Tier)
		if service == "" {
			msg = fmt.Sprintf("%s is not taken by any service", ev.Type())
		}
		return nil, bus.Reject(bus.CodeNotInTierMenu, msg, "type")
	}
	return []bus.Outgoing{{Subject: bus.RoutedSubject(string(entry.Account.Tier), account, bus.Name(ev.Type())), Event: ev}}, nil
}
