// Package orders is the order service: it takes crossdock.order.placed.v1
// from its tier lanes, applies the account's rules of engagement, keeps each
// order's state and history in a KV bucket, answers the customer (accepted,
// held, rejected), asks the serving warehouse to fulfil, and follows the
// warehouse's shipments.
package orders

import (
	"encoding/base64"
	"time"

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
type Line struct {
	Line     int     `json:"line"`
	GTIN     string  `json:"gtin"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
}

// Placed is the data of crossdock.order.placed.v1.
type Placed struct {
	PONumber      string `json:"po_number"`
	ShipTo        string `json:"ship_to"`
	RequestedDate string `json:"requested_date"`
	Lines         []Line `json:"lines"`
	Pickup        string `json:"pickup,omitempty"`
}

// Units is the order's total quantity, the measure of minimum-order rules.
func (p *Placed) Units() float64 {
	var n float64
	for _, l := range p.Lines {
		n += l.Quantity
	}
	return n
}

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

// idKey indexes an order by its order_id, for shipments.
func idKey(orderID string) string { return "id." + orderID }

// heldKey lists a held order for the release loop.
func heldKey(account, po string) string {
	return "held." + account + "." + base64.RawURLEncoding.EncodeToString([]byte(po))
}
