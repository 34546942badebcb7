package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/lanes"
)

// Bucket is the KV bucket of orders, their history and indexes.
const Bucket = "XD_ORDERS"

// source is the CloudEvents source of the events this service makes.
const source = "/crossdock/orders"

// Event types the service takes and makes.
var (
	typePlaced      = bus.Type("order.placed")
	typeAccepted    = bus.Type("order.accepted")
	typeRejected    = bus.Type("order.rejected")
	typeHeld        = bus.Type("order.held")
	typeFulfillment = bus.Type("fulfillment.requested")
	typeShipment    = bus.Type("shipment.dispatched")
)

// Config configures the order service. The zero value is ready for use.
type Config struct {
	// Lanes sizes each lane; a missing lane gets priority 8, standard 4 or
	// bulk 2 workers, each with 64 messages in flight per worker.
	Lanes map[accounts.Lane]lanes.Size
	// Governor, when set, slows the bulk lane while the priority lane
	// waits.
	Governor *lanes.Governor
	// ReleaseEvery is how often held orders are checked for release; zero
	// means one minute.
	ReleaseEvery time.Duration
	// Now is the clock of the release loop and of dry runs (Check); nil
	// means time.Now. Decisions on placed orders use the time JetStream
	// stored the order instead, which stays the same on every redelivery.
	Now func() time.Time
	// Schemas validates orders in dry runs; nil means schemas.New().
	Schemas *schemas.Validator
	// Tags reads RFID observations for order timelines; nil leaves them out.
	Tags TagReads
}

// Service is the order service.
type Service struct {
	cfg Config
	bus *bus.Bus
	reg *accounts.Registry
	kv  jetstream.KeyValue
	log *zap.Logger
}

// New opens the orders bucket and returns the service.
func New(ctx context.Context, cfg Config, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) (*Service, error) {
	if cfg.ReleaseEvery <= 0 {
		cfg.ReleaseEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Schemas == nil {
		v, err := schemas.New()
		if err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
		cfg.Schemas = v
	}
	kv, err := b.Bucket(ctx, Bucket, "orders by account and PO number, with history", 5)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, bus: b, reg: reg, kv: kv, log: log}, nil
}

// Run consumes every lane and releases held orders until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return lanes.Run(ctx, s.bus, s.reg.Tiers(), lanes.Consumer{
		Service: "orders", Source: source, Names: []string{bus.Name(typePlaced), bus.Name(typeShipment)}, Sizes: s.cfg.Lanes, Handler: s.Handle, Governor: s.cfg.Governor,
	}, s.releaseLoop)
}

// Handle is the consume handler of every lane.
func (s *Service) Handle(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	switch d.Event.Type() {
	case typePlaced:
		return s.place(ctx, d)
	case typeShipment:
		return s.ship(ctx, d)
	}
	return nil, bus.Reject(bus.CodeUnknownType, "the order service does not take "+d.Event.Type(), "type")
}

func (s *Service) place(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	entry, ok := s.reg.Account(bus.Account(ev))
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", bus.Account(ev)), "account")
	}
	var p Placed
	if err := json.Unmarshal(ev.Data(), &p); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "order data: "+err.Error(), "data")
	}
	key := orderKey(entry.Account.ID, p.PONumber)
	dec := Decide(d.Stored, &entry.Account, entry.Policy, &p)
	// A new PO is the common case: write it at once, with a create that
	// fails if the key exists, rather than read first (one round trip, not
	// two). Only then is the existing order read.
	o := s.decided(d, ev, entry, &p, &dec, nil)
	if d.Attempt == 1 && o.State == StateAccepted {
		if _, indexed := poOf(o.OrderID); indexed {
			return s.guarded(ctx, ev, key, o)
		}
	}
	created, err := s.create(ctx, key, o)
	if err != nil {
		return nil, err
	}
	if created {
		return s.logged(ctx, ev, o)
	}
	existing, rev, err := s.get(ctx, key)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return nil, fmt.Errorf("order %s: exists, then not found (deleted meanwhile?)", key)
	}
	if existing.PlacedEventID == ev.ID() {
		// A redelivery: the decision is made and stored; answer it again
		// (the answers' ids are derived, so JetStream stores them once).
		return s.settled(ctx, ev, existing)
	}
	if existing.State != StateRejected {
		r := bus.Reject(bus.CodeDuplicate, fmt.Sprintf("PO %s was already placed (event %s)", p.PONumber, existing.PlacedEventID), "po_number")
		out, err := s.rejection(ev, p.PONumber, r.Problems)
		if err != nil {
			return nil, err
		}
		return []bus.Outgoing{out}, r
	}
	// Placed again after a rejection: the new decision, with the history.
	o = s.decided(d, ev, entry, &p, &dec, existing)
	if err := s.put(ctx, key, o, true, rev); err != nil {
		return nil, err
	}
	return s.logged(ctx, ev, o)
}

// decided is the order a decision makes, continuing existing's history
// when there is one.
func (s *Service) decided(d *bus.Delivery, ev *event.Event, entry *accounts.Entry, p *Placed, dec *Decision, existing *Order) *Order {
	o := &Order{Placed: *p, Account: entry.Account.ID, State: dec.State, Warehouse: dec.Warehouse, PlacedEventID: ev.ID(), Reasons: dec.Problems}
	if existing != nil {
		o.History = slices.Clone(existing.History)
	}
	note := ""
	switch dec.State {
	case StateAccepted:
		o.OrderID = newOrderID(ev.ID(), p.PONumber)
	case StateHeld:
		o.OrderID = newOrderID(ev.ID(), p.PONumber)
		o.ReleaseAt = &dec.ReleaseAt
		note = heldReason(entry.Policy, dec.ReleaseAt)
	case StateRejected:
		o.Warehouse = ""
		note = (&bus.Rejection{Problems: dec.Problems}).Error()
	}
	if tp := bus.Extension(ev, bus.ExtTraceparent); tp != "" {
		o.Traceparent = tp
	}
	o.Channel = channelOf(ev)
	o.History = append(o.History, Change{At: d.Stored.UTC(), State: dec.State, EventID: ev.ID(), Note: note})
	return o
}

func (s *Service) logged(ctx context.Context, ev *event.Event, o *Order) ([]bus.Outgoing, error) {
	if ce := s.log.Check(zap.DebugLevel, "order decided"); ce != nil {
		ce.Write(zap.String("account", o.Account), zap.String("po", o.PONumber), zap.String("state", o.State), zap.String("event", ev.ID()))
	}
	return s.settled(ctx, ev, o)
}

// guarded answers an accepted order on its first delivery without waiting
// for its write: the create goes out as the answers' bus.Guard, and they are
// published once it is stored. If the key exists (a PO placed twice), the
// bus redelivers the event and place decides again, reading what is
// stored. Held and rejected orders, and orders whose id needs an index
// entry, write synchronously: their other writes and the rejection path
// need the order stored first.
func (s *Service) guarded(ctx context.Context, ev *event.Event, key string, o *Order) ([]bus.Outgoing, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode order %s: %w", key, err)
	}
	outs, err := s.logged(ctx, ev, o)
	if err != nil {
		return nil, err
	}
	return append([]bus.Outgoing{{Guard: bus.KVCreate(Bucket, key, b)}}, outs...), nil
}

// settled indexes a stored order and returns the answers its state calls
// for, with the rejection error when it was rejected.
func (s *Service) settled(ctx context.Context, cause *event.Event, o *Order) ([]bus.Outgoing, error) {
	switch o.State {
	case StateAccepted, StateShipped:
		if err := s.index(ctx, o); err != nil {
			return nil, err
		}
		return s.acceptance(cause, o)
	case StateHeld:
		if err := s.index(ctx, o); err != nil {
			return nil, err
		}
		ev, err := bus.NewEvent(cause, typeHeld, "", source, map[string]any{
			"po_number": o.PONumber, "release_at": o.ReleaseAt.UTC().Format(time.RFC3339), "reason": o.History[len(o.History)-1].Note,
		})
		if err != nil {
			return nil, err
		}
		return []bus.Outgoing{{Subject: bus.OutSubject(o.Account, bus.Name(typeHeld)), Event: ev}}, nil
	default:
		out, err := s.rejection(cause, o.PONumber, o.Reasons)
		if err != nil {
			return nil, err
		}
		return []bus.Outgoing{out}, &bus.Rejection{Problems: o.Reasons}
	}
}

// index writes the order_id index when the order_id does not carry the PO
// number, and the held list for held orders.
func (s *Service) index(ctx context.Context, o *Order) error {
	if _, ok := poOf(o.OrderID); !ok {
		if _, err := s.kv.Put(ctx, idKey(o.OrderID), []byte(orderKey(o.Account, o.PONumber))); err != nil {
			return fmt.Errorf("index order %s: %w", o.OrderID, err)
		}
	}
	if o.State == StateHeld {
		if _, err := s.kv.Put(ctx, heldKey(o.Account, o.PONumber), []byte(orderKey(o.Account, o.PONumber))); err != nil {
			return fmt.Errorf("list held order %s: %w", o.OrderID, err)
		}
	}
	return nil
}

// acceptance is order.accepted to the customer and fulfillment.requested to
// the warehouse serving the ship-to location.
func (s *Service) acceptance(cause *event.Event, o *Order) ([]bus.Outgoing, error) {
	accepted, err := bus.NewEvent(cause, typeAccepted, "", source, struct {
		Placed
		OrderID   string `json:"order_id"`
		Warehouse string `json:"warehouse"`
	}{o.Placed, o.OrderID, o.Warehouse})
	if err != nil {
		return nil, err
	}
	fulfil, err := bus.NewEvent(cause, typeFulfillment, "", source, struct {
		OrderID string `json:"order_id"`
		Account string `json:"account"`
		Placed
	}{o.OrderID, o.Account, o.Placed})
	if err != nil {
		return nil, err
	}
	return []bus.Outgoing{
		{Subject: bus.OutSubject(o.Account, bus.Name(typeAccepted)), Event: accepted},
		{Subject: bus.WarehouseSubject(o.Warehouse, bus.Name(typeFulfillment)), Event: fulfil},
	}, nil
}

func (s *Service) rejection(cause *event.Event, po string, reasons []bus.Problem) (bus.Outgoing, error) {
	ev, err := bus.NewEvent(cause, typeRejected, "", source, map[string]any{"po_number": po, "reasons": reasons})
	if err != nil {
		return bus.Outgoing{}, err
	}
	return bus.Outgoing{Subject: bus.OutSubject(bus.Account(cause), bus.Name(typeRejected)), Event: ev}, nil
}

// get reads an order; a missing key is (nil, 0, nil).
func (s *Service) get(ctx context.Context, key string) (*Order, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read order %s: %w", key, err)
	}
	var o Order
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return nil, 0, fmt.Errorf("decode order %s: %w", key, err)
	}
	return &o, e.Revision(), nil
}

// create writes a new order; created is false when the key exists.
func (s *Service) create(ctx context.Context, key string, o *Order) (created bool, err error) {
	b, err := json.Marshal(o)
	if err != nil {
		return false, fmt.Errorf("encode order %s: %w", key, err)
	}
	if _, err := s.kv.Create(ctx, key, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("write order %s: %w", key, err)
	}
	return true, nil
}

// put writes an order: a create when it is new, else an update at the
// revision it was read at, so that two workers never overwrite each other.
// A conflict is transient: the message is retried and sees the winner.
func (s *Service) put(ctx context.Context, key string, o *Order, exists bool, rev uint64) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode order %s: %w", key, err)
	}
	if exists {
		_, err = s.kv.Update(ctx, key, b, rev)
	} else {
		_, err = s.kv.Create(ctx, key, b)
	}
	if err != nil {
		return fmt.Errorf("write order %s: %w", key, err)
	}
	return nil
}

// channelOf is how an order came in: the channel its intake marked, or
// nats for an event published straight to NATS.
func channelOf(ev *event.Event) string {
	if c := bus.Extension(ev, bus.ExtChannel); channelPattern.MatchString(c) {
		return c
	}
	return bus.ChannelNATS
}

// channelPattern is the shape of a channel: a word such as api, or an
// adapter's format name.
var channelPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// causeOf rebuilds the identity of the event that placed o, for answers made
// outside its delivery (releases).
func causeOf(o *Order) *event.Event {
	ev := event.New()
	ev.SetID(o.PlacedEventID)
	ev.SetExtension(bus.ExtAccount, o.Account)
	if o.Traceparent != "" {
		ev.SetExtension(bus.ExtTraceparent, o.Traceparent)
	}
	return &ev
}
