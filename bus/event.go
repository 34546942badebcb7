package bus

import (
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/envelope"
)

// Extension attribute names the hub uses, kept here for compatibility: they
// belong to package envelope.
const (
	ExtAccount     = envelope.ExtAccount
	ExtCausationID = envelope.ExtCausationID
	ExtTraceparent = envelope.ExtTraceparent
	ExtChannel     = envelope.ExtChannel
)

// Channels an event can come in by, kept here for compatibility: see
// envelope.ExtChannel.
const (
	ChannelAPI    = envelope.ChannelAPI
	ChannelPortal = envelope.ChannelPortal
	ChannelNATS   = envelope.ChannelNATS
)

// DeriveID is envelope.DeriveID, kept for compatibility.
func DeriveID(causeID, kind string) string { return envelope.DeriveID(causeID, kind) }

// Account is envelope.Account, kept for compatibility.
func Account(ev *event.Event) string { return envelope.Account(ev) }

// Extension is envelope.Extension, kept for compatibility.
func Extension(ev *event.Event, name string) string { return envelope.Extension(ev, name) }

// extensions returns ev's extensions for reading, without a copy where the
// context allows it.
func extensions(ev *event.Event) map[string]any {
	if c, ok := ev.Context.(*event.EventContextV1); ok {
		return c.Extensions
	}
	return ev.Extensions()
}

// MsgID is the JetStream Nats-Msg-Id for ev: its id scoped by who sent it,
// so that two senders that pick the same id never collide. A warehouse's
// event (source /warehouses/<id>, checked at the gateway) is scoped by the
// warehouse, wh.<id>:<event id>, as at the intake (gateway.IntakeKey),
// though it names the account it concerns: scoped by that account it
// shared the account's own key space in XD_ROUTED, and a shipment and an
// order with one id dropped whichever came second. Other events are scoped
// by their account, <account>:<event id>; account ids hold no dot, so the
// two kinds of key never meet.
func MsgID(ev *event.Event) string {
	if rest, ok := strings.CutPrefix(ev.Source(), "/warehouses/"); ok {
		if wh, _, _ := strings.Cut(rest, "/"); wh != "" {
			return "wh." + wh + ":" + ev.ID()
		}
	}
	if a := Account(ev); a != "" {
		return a + ":" + ev.ID()
	}
	return ev.ID()
}

// NewEvent is envelope.New, kept for compatibility.
func NewEvent(cause *event.Event, eventType, kind, source string, data any) (*event.Event, error) {
	return envelope.New(cause, eventType, kind, source, data)
}

// Sender is who sent an event: an account or a warehouse.
type Sender struct {
	Account   string
	Warehouse string
}

// SenderOf names who sent an event. On an intake subject (xd.in.<account>.…,
// xd.in.wh.<warehouse>.…) the subject decides: NATS permissions tie it to the
// sender's credentials, while the event's own source is only a claim. After
// the gateway's checks (xd.routed.…) the source is trusted, so a warehouse's
// shipment routed under its account is still answered to the warehouse.
func SenderOf(ev *event.Event, subject string) Sender {
	tok := strings.Split(subject, ".")
	switch {
	case len(tok) >= 4 && tok[1] == "in" && tok[2] == "wh":
		return Sender{Warehouse: tok[3]}
	case len(tok) >= 3 && tok[1] == "in":
		return Sender{Account: tok[2]}
	// Partners' files (xd.raw.<account>.<format>, xd.raw.wh.<warehouse>.<format>)
	// are the sender's by their subject too.
	case len(tok) >= 4 && tok[1] == "raw" && tok[2] == "wh":
		return Sender{Warehouse: tok[3]}
	case len(tok) >= 3 && tok[1] == "raw":
		return Sender{Account: tok[2]}
	}
	if ev != nil {
		src := ev.Source()
		if rest, ok := strings.CutPrefix(src, "/warehouses/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			return Sender{Warehouse: id}
		}
		if a := Account(ev); a != "" {
			return Sender{Account: a}
		}
	}
	if len(tok) >= 4 && tok[1] == "routed" {
		return Sender{Account: tok[3]}
	}
	return Sender{}
}

// NewRootEvent is envelope.NewRoot, kept for compatibility.
func NewRootEvent(id, eventType, source, account string, data any) (*event.Event, error) {
	return envelope.NewRoot(id, eventType, source, account, data)
}
