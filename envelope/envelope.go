// Package envelope is the hub's side of the CloudEvents envelope that needs no
// transport: the extension attributes it sets (account, causationid,
// traceparent), ids derived from the event that caused another, and the
// events the hub makes in answer to events or on its own. Adapters, services
// and bus all use it; it is a leaf, so a package that only makes events does
// not link NATS.
package envelope

import (
	"fmt"
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
	// absent or "nats", it was published straight to NATS. The hub's
	// intakes set it (a client's value is overwritten, over NATS by the
	// intake relay) and the order timeline and the console's flow show it.
	// It is a label, never a reason for a decision.
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

// maxTraceparent is the longest traceparent an answer carries over: a W3C
// traceparent is 55 bytes; one far longer is not a trace context but an
// attempt to make the answer unstorable (the gateway refuses it at the door,
// this keeps answers to events stored before that safe).
const maxTraceparent = 512

// New makes an event that answers cause: its id derived from the cause's
// (distinguished by kind when one cause makes several events of a type),
// causationid set to the cause's id, the account and traceparent carried
// over, and data encoded as JSON.
func New(cause *event.Event, eventType, kind, source string, data any) (*event.Event, error) {
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

// NewRoot makes an event the hub originates, with no cause (a tier change, a
// scheduled run). id should be deterministic where the same fact may be
// announced by several processes, so that they publish it once.
func NewRoot(id, eventType, source, account string, data any) (*event.Event, error) {
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
