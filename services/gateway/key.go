package gateway

import "github.com/crossdock/crossdock/bus"

// IntakeKey is the key JetStream deduplicates an intake event on: its id
// scoped by its authenticated sender (bus.MsgID for an account's event),
// never a header the client set. A retry of one's own event over HTTP or
// NATS is one event; no sender can name another's key.
func IntakeKey(from bus.Sender, id string) string {
	if from.Warehouse != "" {
		return "wh." + from.Warehouse + ":" + id
	}
	return from.Account + ":" + id
}
