package vmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
)

// dispatched is the part of crossdock.shipment.dispatched.v1 the VMI service
// needs.
type dispatched struct {
	ShipmentID      string `json:"shipment_id"`
	ReplenishmentID string `json:"replenishment_id"`
	Lines           []struct {
		GTIN     string  `json:"gtin"`
		Quantity float64 `json:"quantity"`
	} `json:"lines"`
}

// ship counts a warehouse's shipment of a replenishment: its quantity moves
// from the open replenishment to in transit (on order, for the position) and
// the event goes on, unchanged, to the customer. Shipments of orders (no
// replenishment_id) share the subject and belong to the order service; this
// service acks them and leaves them.
func (s *Service) ship(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	var sh dispatched
	if err := json.Unmarshal(ev.Data(), &sh); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "shipment data: "+err.Error(), "data")
	}
	if sh.ReplenishmentID == "" {
		return nil, nil
	}
	unknown := func(why string) error {
		return bus.Reject(bus.CodeUnknownReplenishment, fmt.Sprintf("replenishment %s %s", sh.ReplenishmentID, why), "data.replenishment_id")
	}
	ref, err := s.kv.Get(ctx, repKey(sh.ReplenishmentID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, unknown("is not known")
	}
	if err != nil {
		return nil, fmt.Errorf("read replenishment index %s: %w", sh.ReplenishmentID, err)
	}
	key := string(ref.Value())
	from := bus.SenderOf(ev, d.Subject)
	var problem error
	p, err := s.update(ctx, key, func(p *Position) bool {
		problem = nil
		switch {
		case p.ReportID == "":
			problem = unknown("is not known")
		case p.Account != bus.Account(ev):
			problem = unknown("is not a replenishment of account " + bus.Account(ev))
		case slices.Contains(p.Recent, sh.ShipmentID):
			return false // counted already
		}
		if problem != nil {
			return false
		}
		var qty float64
		for _, l := range sh.Lines {
			if gs1.GTIN14(l.GTIN) == p.GTIN {
				qty += l.Quantity
			}
		}
		units := int64(math.Round(qty))
		if units <= 0 {
			problem = bus.Reject(bus.CodeSchemaViolation, fmt.Sprintf("shipment %s has no units of %s, the item of replenishment %s", sh.ShipmentID, p.GTIN, sh.ReplenishmentID), "data.lines")
			return false
		}
		if p.Open != nil && p.Open.ID == sh.ReplenishmentID {
			if p.Open.Warehouse != from.Warehouse {
				problem = unknown("was not asked of warehouse " + from.Warehouse)
				return false
			}
			p.Open.Shipped += units
			p.Open.ShipmentIDs = append(p.Open.ShipmentIDs, sh.ShipmentID)
		}
		// A shipment of a replenishment closed meanwhile is late but real:
		// its goods are on their way all the same.
		p.Transit += units
		p.Recent = append(p.Recent, sh.ShipmentID)
		if len(p.Recent) > recentShipments {
			p.Recent = p.Recent[len(p.Recent)-recentShipments:]
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if problem != nil {
		return nil, problem
	}
	return []bus.Outgoing{{Subject: bus.OutSubject(p.Account, bus.Name(typeShipment)), Event: ev}}, nil
}
