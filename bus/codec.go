package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

// Header names the hub reads and writes besides the ce- attributes.
const (
	headerContentType = "content-type"
	headerMsgID       = "Nats-Msg-Id"
	// ContentTypeStructured marks a CloudEvent in structured mode.
	ContentTypeStructured = "application/cloudevents+json"
)

// Encode writes ev in the CloudEvents NATS binding's binary mode: every
// attribute and extension as a ce- header, the data as the body. Binary mode
// keeps the body the customer's JSON, readable by any NATS tool, and lets a
// consumer route on headers without parsing the payload.
func Encode(subject string, ev *event.Event) *nats.Msg {
	h := make(nats.Header, 8+len(ev.Extensions()))
	h.Set("ce-specversion", ev.SpecVersion())
	h.Set("ce-id", ev.ID())
	h.Set("ce-source", ev.Source())
	h.Set("ce-type", ev.Type())
	if !ev.Time().IsZero() {
		h.Set("ce-time", ev.Time().UTC().Format(time.RFC3339Nano))
	}
	if s := ev.Subject(); s != "" {
		h.Set("ce-subject", s)
	}
	if s := ev.DataSchema(); s != "" {
		h.Set("ce-dataschema", s)
	}
	if ct := ev.DataContentType(); ct != "" {
		h.Set(headerContentType, ct)
	}
	for k, v := range ev.Extensions() {
		h.Set("ce-"+k, fmt.Sprint(v))
	}
	return &nats.Msg{Subject: subject, Header: h, Data: ev.Data()}
}

// DecodeError says why a message is not a CloudEvent. Code is invalid_json
// when the body of a structured event is not JSON and schema_violation when
// attributes are missing or malformed.
type DecodeError struct {
	Code string
	Err  error
}

func (e *DecodeError) Error() string { return "decode cloudevent: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode reads a CloudEvent in either mode of the NATS binding: binary (a
// ce-specversion header) or structured (the whole event as JSON in the body).
func Decode(msg *nats.Msg) (*event.Event, error) {
	binary := msg.Header != nil && msg.Header.Get("ce-specversion") != ""
	if !binary && !json.Valid(msg.Data) {
		return nil, &DecodeError{Code: CodeInvalidJSON, Err: errors.New("body is neither JSON nor a binary-mode event (no ce-specversion header)")}
	}
	ev, err := binding.ToEvent(context.Background(), natsce.NewMessage(msg))
	if err != nil {
		return nil, &DecodeError{Code: CodeSchemaViolation, Err: err}
	}
	if err := ev.Validate(); err != nil {
		return nil, &DecodeError{Code: CodeSchemaViolation, Err: err}
	}
	if v := ev.SpecVersion(); v != event.CloudEventsVersionV1 {
		// The sdk reads 0.3 without checking extension names, which Encode
		// cannot then write as headers that Decode (or NATS) accepts.
		return nil, &DecodeError{Code: CodeSchemaViolation, Err: fmt.Errorf("specversion %q: events must be CloudEvents 1.0", v)}
	}
	if binary && ev.DataContentType() == "" && len(ev.Data()) > 0 {
		// The binding draft lets content-type default to JSON.
		if err := ev.SetData(event.ApplicationJSON, ev.Data()); err != nil {
			return nil, &DecodeError{Code: CodeSchemaViolation, Err: err}
		}
	}
	return ev, nil
}

// Name is the short name of an event type used in subjects: the type without
// its "crossdock." prefix and ".vN" suffix ("order.placed").
func Name(eventType string) string {
	n := strings.TrimPrefix(eventType, "crossdock.")
	if i := strings.LastIndex(n, ".v"); i > 0 && i+2 < len(n) && strings.Trim(n[i+2:], "0123456789") == "" {
		n = n[:i]
	}
	return n
}

// Type is the inverse of Name for version 1 of a type.
func Type(name string) string { return "crossdock." + name + ".v1" }
