package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

// dispatched is the part of crossdock.shipment.dispatched.v1 the order
// service needs.
type dispatched struct {
	ShipmentID      string `json:"shipment_id"`
	OrderID         string `json:"order_id"`
	ReplenishmentID string `json:"replenishment_id"`
	Carrier         string `json:"carrier"`
	SSCC            string `json:"sscc"`
	Lines           []Line `json:"lines"`
}

// ship moves an order to shipped and forwards the warehouse's shipment event,
// unchanged, to the customer. Shipments of replenishments (replenishment_id
// instead of order_id) share the subject but belong to the VMI service, which
// consumes them from the same stream; this service acks them and leaves them.
func (s *Service) ship(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	var sh dispatched
	if err := json.Unmarshal(ev.Data(), &sh); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "shipment data: "+err.Error(), "data")
	}
	if sh.OrderID == "" {
		return nil, nil
	}
	unknown := func(why string) error {
		return bus.Reject(bus.CodeUnknownOrder, fmt.Sprintf("order %q %s", bus.Bounded(sh.OrderID), why), "order_id")
	}
	if !isOrderID(sh.OrderID) {
		return nil, unknown("is not an order id of this hub")
	}
	var key string
	if po, ok := poOf(sh.OrderID); ok {
		key = orderKey(bus.Account(ev), po)
	} else {
		ref, err := s.kv.Get(ctx, idKey(sh.OrderID))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, unknown("is not known")
		}
		if err != nil {
			return nil, fmt.Errorf("read order index %s: %w", sh.OrderID, err)
		}
		key = string(ref.Value())
	}
	o, rev, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if o == nil || o.OrderID != sh.OrderID {
		return nil, unknown("is not known")
	}
	from := bus.SenderOf(ev, d.Subject)
	if o.Account != bus.Account(ev) || from.Warehouse != o.Warehouse {
		return nil, unknown(fmt.Sprintf("is not an order of account %s at warehouse %s", bus.Account(ev), from.Warehouse))
	}
	if o.State != StateAccepted && o.State != StateShipped {
		return nil, unknown("is " + o.State + ", not accepted for shipping")
	}
	if !slices.Contains(o.Shipments, sh.ShipmentID) {
		o.State = StateShipped
		o.Shipments = append(o.Shipments, sh.ShipmentID)
		o.History = append(o.History, Change{At: d.Stored.UTC(), State: StateShipped, EventID: ev.ID(), Note: "shipment " + sh.ShipmentID})
		rec := Dispatch{ShipmentID: sh.ShipmentID, At: d.Stored.UTC(), EventID: ev.ID(), Carrier: sh.Carrier, SSCC: sh.SSCC, Lines: sh.Lines}
		for _, l := range sh.Lines {
			rec.Units += l.Quantity
		}
		o.Dispatches = append(o.Dispatches, rec)
		if err := s.put(ctx, key, o, true, rev); err != nil {
			return nil, err
		}
	}
	return []bus.Outgoing{{Subject: bus.OutSubject(o.Account, bus.Name(typeShipment)), Event: ev}}, nil
}
