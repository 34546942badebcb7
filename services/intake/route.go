package intake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// HeaderRouted marks an event in XD_IN that the gateway has already checked
// (HTTP intake) and that is on its tier's menu. Its value is an HMAC, under a
// key only this process holds, of the message id and data: a customer
// publishing over NATS cannot forge it, and a router in another process,
// which cannot verify it, checks and routes the event as if the header were
// not there. The router of this process dispatches a sealed event without
// checking it again. (The name is from when the gateway also stored the
// event in its lane, before 2026-12-02.)
const HeaderRouted = "Crossdock-Routed"

// Menu names the service an event type goes to and whether the policy
// includes that service: VMI reports need vmi other than off, RFID reads need
// rfid on, shared forecasts need planning shared; orders and shipments are
// on every tier's menu.
func Menu(p accounts.Policy, eventType string) (service string, ok bool) {
	switch bus.Name(eventType) {
	case "forecast.shared":
		return "planning", p.SharesPlanning()
	case "inventory.reported":
		return "vmi", p.VMI != "off"
	case "rfid.observed":
		return "rfid", p.RFID == "on"
	case "shipment.dispatched", "order.placed":
		return "orders", true
	}
	return "", false
}

// Lane returns the lane subject of a checked event, or "" when the event is
// not on its account's tier menu (the router then rejects it, as it does for
// NATS arrivals, so that both intakes answer a refused service alike).
func (c *Checker) Lane(ev *event.Event) string {
	account := bus.Account(ev)
	entry, ok := c.reg.Account(account)
	if !ok {
		return ""
	}
	if _, ok := Menu(entry.Policy, ev.Type()); !ok {
		return ""
	}
	return bus.RoutedSubject(string(entry.Account.Tier), account, bus.Name(ev.Type()))
}

// Seal returns the HeaderRouted value for an event with this Nats-Msg-Id and
// data.
func (c *Checker) Seal(msgID string, data []byte) string {
	h := c.macs.Get().(hash.Hash)
	defer c.macs.Put(h)
	h.Reset()
	h.Write([]byte(msgID))
	h.Write([]byte{0})
	h.Write(data)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Sealed reports whether seal is this process's HeaderRouted value for the
// message id and data.
func (c *Checker) Sealed(msgID string, data []byte, seal string) bool {
	if seal == "" {
		return false
	}
	return hmac.Equal([]byte(seal), []byte(c.Seal(msgID, data)))
}

// newMACs is a pool of HMAC-SHA256 states under key.
func newMACs(key []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
}
