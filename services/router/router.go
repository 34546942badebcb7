// Package router moves checked events into their tier lanes. It consumes
// XD_IN, runs the gateway's checks on each event (NATS publishes arrive
// unchecked), looks up the account's effective policy, refuses what is not in
// the tier's menu, and republishes the event unchanged (same id) on
// xd.routed.<tier>.<account>.<name>.
package router

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/gateway"
)

// Config configures the router. The zero value is ready for use.
type Config struct {
	Workers       int // messages routed at once in this process; zero means 8
	MaxAckPending int // messages in flight across all processes; zero means 64 per worker
}

// Service is the router.
type Service struct {
	cfg   Config
	bus   *bus.Bus
	reg   *accounts.Registry
	check *gateway.Checker
	log   *zap.Logger
}

// New returns the router.
func New(cfg Config, b *bus.Bus, reg *accounts.Registry, check *gateway.Checker, log *zap.Logger) *Service {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	return &Service{cfg: cfg, bus: b, reg: reg, check: check, log: log}
}

// Run routes until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.bus.Consume(ctx, bus.ConsumerConfig{
		Stream:        bus.StreamIn,
		Durable:       "router",
		Subjects:      []string{"xd.in.>"},
		Source:        "/crossdock/router",
		Workers:       s.cfg.Workers,
		MaxAckPending: s.cfg.MaxAckPending,
	}, s.Handle)
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
	if service, ok := Menu(entry.Policy, ev.Type()); !ok {
		msg := fmt.Sprintf("%s goes to the %s service, which the %s tier does not include", ev.Type(), service, entry.Account.Tier)
		if service == "" {
			msg = fmt.Sprintf("%s is not taken by any service", ev.Type())
		}
		return nil, bus.Reject(bus.CodeNotInTierMenu, msg, "type")
	}
	subject := "xd.routed." + string(entry.Account.Tier) + "." + account + "." + bus.Name(ev.Type())
	return []bus.Outgoing{{Subject: subject, Event: ev}}, nil
}

// Menu names the service an event type goes to and whether the policy
// includes that service: VMI reports need vmi other than off, RFID reads need
// rfid on; orders and shipments are on every tier's menu.
func Menu(p accounts.Policy, eventType string) (service string, ok bool) {
	switch bus.Name(eventType) {
	case "inventory.reported":
		return "vmi", p.VMI != "off"
	case "rfid.observed":
		return "rfid", p.RFID == "on"
	case "shipment.dispatched", "order.placed":
		return "orders", true
	}
	return "", false
}
