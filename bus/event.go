package bus

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// Extension attribute names the hub uses (CONTRACT.md section 2).
const (
	ExtAccount     = "account"
	ExtCausationID = "causationid"
	ExtTraceparent = "traceparent"
	// ExtChannel names how an event came in: "api" (POST /v1/events),
	// "portal", or the format of the file it was made from ("x12", "csv");
	// absent, it was published straight to NATS. The hub's intakes set it
	// (a client's value is overwritten) and the order timeline shows it. A
	// NATS publisher can set it on its own events: it is a label for the
	// account's own view, never a reason for a decision.
	ExtChannel = "channel"
)

// Channels an event can come in by (ExtChannel); an adapter's format name is
// one too.
const (
	ChannelAPI    = "api"
	ChannelPortal = "portal"
	ChannelNATS   = "nats"
)

// idNamespace scopes the hub's derived ids (UUIDv5).
var idNamespace = uuid.MustParse("6f1c1d5e-5f0c-4c43-9b8a-63a4c1f0e7a2")

// DeriveID returns a stable id for the event that cause produces as its
// `kind`: the same cause always yields the same id, so a redelivered cause
// publishes nothing new (JetStream drops the duplicate by Nats-Msg-Id).
func DeriveID(causeID, kind string) string {
	return uuid.NewSHA1(idNamespace, []byte(causeID+"\x00"+kind)).String()
}

// Account returns the event's account extension, or "".
func Account(ev *event.Event) string { return Extension(ev, ExtAccount) }

// Extension returns ev's extension name as a string, or "". Unlike
// ev.Extensions(), which copies the map on every call (5% of the hub's
// allocations when it was used on the order path), and GetExtension,
// which copies the context, it reads the map in place.
func Extension(ev *event.Event, name string) string {
	var v any
	switch c := ev.Context.(type) {
	case nil:
		return ""
	case *event.EventContextV1:
		v = c.Extensions[name]
	default:
		v, _ = c.GetExtension(name)
	}
	s, _ := v.(string)
	return s
}

// extensions returns ev's extensions for reading, without a copy where the
// context allows it.
func extensions(ev *event.Event) map[string]any {
	if c, ok := ev.Context.(*event.EventContextV1); ok {
		return c.Extensions
	}
	return ev.Extensions()
}

// MsgID is the JetStream Nats-Msg-Id for ev: its id scoped by its account, so
// two accounts that pick the same id never collide.
func MsgID(ev *event.Event) string {
	if a := Account(ev); a != "" {
		return a + ":" + ev.ID()
	}
	return ev.ID()
}

// maxTraceparent is the longest traceparent an answer carries over: a W3C
// traceparent is 55 bytes; one far longer is not a trace context but an
// attempt to make the answer unstorable (the gateway refuses it at the door,
// this keeps answers to events stored before that safe).
const maxTraceparent = 512

// NewEvent makes an event that answers cause: its id derived from the
// cause's (distinguished by kind when one cause makes several events of a
// type), causationid set to the cause's id, the account and traceparent
// carried over, and data encoded as JSON.
func NewEvent(cause *event.Event, eventType, kind, source string, data any) (*event.Event, error) {
	ev := event.New()
	ev.SetID(DeriveID(cause.ID(), eventType+"/"+kind))
	ev.SetType(eventType)
	ev.SetSource(source)
	ev.SetTime(time.Now().UTC())
	ev.SetExtension(ExtCausationID, cause.ID())
	if a := Account(cause); a != "" {
		ev.SetExtension(ExtAccount, a)
	}
	if tp := Extension(cause, ExtTraceparent); tp != "" && len(tp) <= maxTraceparent {
		ev.SetExtension(ExtTraceparent, tp)
	}
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		return nil, fmt.Errorf("encode %s data: %w", eventType, err)
	}
	return &ev, nil
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

// Subject returns the subject on which the sender receives events named name
// (xd.out.<account>.<name> or xd.wh.<warehouse>.<name>).
func (s Sender) Subject(name string) string {
	if s.Warehouse != "" {
		return "xd.wh." + s.Warehouse + "." + name
	}
	return OutSubject(s.Account, name)
}

// DLQSubject is where the sender's dead letters with this code go
// (xd.dlq.<account>.<code>, xd.dlq.wh.<warehouse>.<code>).
func (s Sender) DLQSubject(code string) string { return s.dlqSubject(code) }

// dlqSubject is where the sender's dead letters with this code go.
func (s Sender) dlqSubject(code string) string {
	if s.Warehouse != "" {
		return "xd.dlq.wh." + s.Warehouse + "." + code
	}
	a := s.Account
	if a == "" {
		a = "_unknown"
	}
	return "xd.dlq." + a + "." + code
}

// OutSubject is an account's outbound subject for events named name.
func OutSubject(account, name string) string { return "xd.out." + account + "." + name }

// WarehouseSubject is a warehouse's subject for events named name.
func WarehouseSubject(warehouse, name string) string { return "xd.wh." + warehouse + "." + name }

// NewRootEvent makes an event the hub originates, with no cause (a tier
// change, a scheduled run). id should be deterministic where the same fact
// may be announced by several processes, so that they publish it once.
func NewRootEvent(id, eventType, source, account string, data any) (*event.Event, error) {
	ev := event.New()
	ev.SetID(id)
	ev.SetType(eventType)
	ev.SetSource(source)
	ev.SetTime(time.Now().UTC())
	if account != "" {
		ev.SetExtension(ExtAccount, account)
	}
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		return nil, fmt.Errorf("encode %s data: %w", eventType, err)
	}
	return &ev, nil
}
