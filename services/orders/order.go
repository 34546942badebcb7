// Package orders is the order service: it takes crossdock.order.placed.v1
// from its tier lanes, applies the account's rules of engagement, keeps each
// order's state and history in a KV bucket, answers the customer (accepted,
// held, rejected), asks the serving warehouse to fulfil, and follows the
// warehouse's shipments.
package orders

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
)

// Order states.
const (
	StateAccepted = "accepted"
	StateHeld     = "held"
	StateRejected = "rejected"
	StateShipped  = "shipped"
)

// Line is one order line.
type Line = adapters.OrderLine

// Placed is the data of crossdock.order.placed.v1: the shape every order
// format's adapter makes, so a file's orders and an API's are one type.
type Placed = adapters.Order

// Order is an order's state as kept in the bucket and served by
// GET /v1/orders/{po_number}.
type Order struct {
	Placed
	Account       string        `json:"account"`
	OrderID       string        `json:"order_id,omitempty"`
	State         string        `json:"state"`
	Warehouse     string        `json:"warehouse,omitempty"`
	ReleaseAt     *time.Time    `json:"release_at,omitempty"`
	Reasons       []bus.Problem `json:"reasons,omitempty"`
	PlacedEventID string        `json:"placed_event_id"`
	Shipments     []string      `json:"shipments,omitempty"`
	Traceparent   string        `json:"traceparent,omitempty"`
	History       []Change      `json:"history"`
	// Channel is how the order came in (bus.ExtChannel): api, portal, nats
	// or a file format such as x12 or csv.
	Channel string `json:"channel,omitempty"`
	// Dispatches are the shipments against the order, as the warehouse
	// reported them; Shipments lists their ids.
	Dispatches []Dispatch `json:"dispatches,omitempty"`
}

// Dispatch is one shipment against an order, from its shipment.dispatched.
type Dispatch struct {
	ShipmentID string    `json:"shipment_id"`
	At         time.Time `json:"at"` // when the hub stored the shipment event
	EventID    string    `json:"event_id"`
	Carrier    string    `json:"carrier,omitempty"`
	SSCC       string    `json:"sscc,omitempty"`
	Units      float64   `json:"units"` // the shipment's total quantity
	Lines      []Line    `json:"lines,omitempty"`
}

// PlacedAt is when the order's current placement was decided (the time
// JetStream stored its order.placed).
func (o *Order) PlacedAt() time.Time {
	for _, c := range o.History {
		if c.EventID == o.PlacedEventID {
			return c.At
		}
	}
	if len(o.History) > 0 {
		return o.History[0].At
	}
	return time.Time{}
}

// ShippedUnits is the total quantity of the order's dispatches.
func (o *Order) ShippedUnits() float64 {
	var n float64
	for _, d := range o.Dispatches {
		n += d.Units
	}
	return n
}

// Change is one step of an order's history.
type Change struct {
	At      time.Time `json:"at"`
	State   string    `json:"state"`
	EventID string    `json:"event_id"`
	Note    string    `json:"note,omitempty"`
}

// orderKey is the bucket key of an account's PO. PO numbers are free text,
// so they are base64url-encoded into the key's alphabet.
func orderKey(account, po string) string {
	return "po." + account + "." + base64.RawURLEncoding.EncodeToString([]byte(po))
}

// maxIDLength is the longest id a shipment may carry (schemas: $defs/id).
const maxIDLength = 64

// newOrderID is the order_id of the order placed by the event with this id:
// 16 hex digits derived from the event's id, a dot, then the PO number
// base64url-encoded. A shipment names its account and the order_id, and so
// the order's key, with no index entry to write for every order. A PO number
// too long for an id of 64 characters gets a UUID derived from the event's
// id instead, and an index entry (idKey).
func newOrderID(eventID, po string) string {
	u := bus.DeriveID(eventID, "order_id")
	id := strings.ReplaceAll(u, "-", "")[:16] + "." + base64.RawURLEncoding.EncodeToString([]byte(po))
	if len(id) > maxIDLength {
		return u
	}
	return id
}

// poOf returns the PO number an order_id made by newOrderID carries; ok is
// false for an id without one (indexed by idKey).
func poOf(orderID string) (po string, ok bool) {
	hash, enc, found := strings.Cut(orderID, ".")
	if !found || len(hash) != 16 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// isOrderID reports whether id has the shape of an order_id newOrderID
// makes: 16 hex digits, a dot and a base64url PO number, or a UUID. Any
// other id (wrong shape, characters a KV key cannot hold) names no order
// of this hub, so a shipment naming it is unknown_order at once.
func isOrderID(id string) bool {
	if _, ok := poOf(id); ok {
		return true
	}
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// idKey indexes an order by its order_id, for shipments, when the order_id
// does not carry its PO number.
func idKey(orderID string) string { return "id." + orderID }

// heldKey lists a held order for the release loop.
func heldKey(account, po string) string {
	return "held." + account + "." + base64.RawURLEncoding.EncodeToString([]byte(po))
}
