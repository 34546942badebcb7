package scorecard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/orders"
)

// Lookback is how far before a period replenishment requests are read: one
// requested earlier and still open keeps its location-item below the
// reorder point into the period. XD_OUT keeps 30 days.
const Lookback = 30 * 24 * time.Hour

// Config configures the scorecard. The zero value is ready for use.
type Config struct {
	// Now is the clock: the default period and the as-of time; nil means
	// time.Now.
	Now func() time.Time
	// Sections are figures other services add to every card.
	Sections []Section
}

// Scorecard computes accounts' scorecards.
type Scorecard struct {
	cfg    Config
	orders *orders.Service
	bus    *bus.Bus
	reg    *accounts.Registry
	log    *zap.Logger
}

// New returns the scorecard over the order service's bucket and the bus's
// XD_OUT.
func New(cfg Config, o *orders.Service, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) *Scorecard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scorecard{cfg: cfg, orders: o, bus: b, reg: reg, log: log}
}

// ErrUnknownAccount is returned for an account the registry does not hold.
var ErrUnknownAccount = errors.New("unknown account")

// Compute returns the account's card for the period containing at (the
// clock's now when at is zero). It reads the orders the account wrote since
// the period began and, for a VMI account, its replenishment requests from
// Lookback before the period and their shipments: never another account's
// data, never more than the period's and what followed it.
func (s *Scorecard) Compute(ctx context.Context, account string, p Period, at time.Time) (*Card, error) {
	entry, ok := s.reg.Account(account)
	if !ok {
		return nil, fmt.Errorf("scorecard of %q: %w", account, ErrUnknownAccount)
	}
	now := s.cfg.Now().UTC()
	if at.IsZero() {
		at = now
	}
	from, to := Window(p, at)
	card := &Card{Account: account, Period: p, Label: label(p, from), From: from, To: to, AsOf: now}
	var all []*orders.Order
	if err := s.orders.Scan(ctx, account, from, func(o *orders.Order) { all = append(all, o) }); err != nil {
		return nil, fmt.Errorf("scorecard of %s: %w", account, err)
	}
	card.Orders = OrderFigures(all, from, to, now)
	if entry.Policy.VMI != "off" {
		reps, err := s.replenishments(ctx, account, from.Add(-Lookback))
		if err != nil {
			return nil, fmt.Errorf("scorecard of %s: %w", account, err)
		}
		card.VMI = VMIFigures(reps, from, to, now)
	}
	for _, sec := range s.cfg.Sections {
		v, err := sec.Compute(ctx, account, from, to)
		if err != nil {
			return nil, fmt.Errorf("scorecard of %s: section %s: %w", account, sec.Name, err)
		}
		if v == nil {
			continue
		}
		if card.Sections == nil {
			card.Sections = map[string]any{}
		}
		card.Sections[sec.Name] = v
	}
	return card, nil
}

// label names a period: 2026-W48 (ISO week) or 2026-11.
func label(p Period, from time.Time) string {
	if p == Month {
		return from.Format("2006-01")
	}
	y, w := from.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// replenishments reads the account's replenishment requests stored in
// XD_OUT since `since` and the first shipment of each. Times are the
// events' own (the hub's clock for a request, the warehouse's for a
// shipment), or when XD_OUT stored them for an event without one.
func (s *Scorecard) replenishments(ctx context.Context, account string, since time.Time) ([]Replenishment, error) {
	var (
		reps  []Replenishment
		index = map[string]int{}
		first = map[string]time.Time{}
	)
	filters := []string{
		bus.OutSubject(account, "replenishment.requested"),
		bus.OutSubject(account, "shipment.dispatched"),
	}
	err := bus.Scan(ctx, s.bus.JetStream(), bus.StreamOut, filters, bus.From{Time: since}, func(m jetstream.Msg, _ uint64) bool {
		ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			s.log.Warn("scorecard: undecodable event in XD_OUT", zap.String("subject", m.Subject()), zap.Error(err))
			return true
		}
		at := ev.Time().UTC()
		if at.IsZero() {
			if md, err := m.Metadata(); err == nil {
				at = md.Timestamp.UTC()
			}
		}
		var d struct {
			ReplenishmentID string `json:"replenishment_id"`
			Location        string `json:"location"`
			GTIN            string `json:"gtin"`
		}
		if err := json.Unmarshal(ev.Data(), &d); err != nil || d.ReplenishmentID == "" {
			return true // an order's shipment, or not ours to read
		}
		if bus.Name(ev.Type()) == "replenishment.requested" {
			if _, dup := index[d.ReplenishmentID]; !dup {
				index[d.ReplenishmentID] = len(reps)
				reps = append(reps, Replenishment{ID: d.ReplenishmentID, Location: d.Location, GTIN: gs1.GTIN14(d.GTIN), RequestedAt: at})
			}
			return true
		}
		if f, ok := first[d.ReplenishmentID]; !ok || at.Before(f) {
			first[d.ReplenishmentID] = at
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for i := range reps {
		reps[i].ShippedAt = first[reps[i].ID]
	}
	return reps, nil
}
