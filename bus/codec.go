package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	natsce "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/crossdock/crossdock/schemas"
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
	h := make(nats.Header, 8+len(extensions(ev)))
	Attributes(ev, h.Set)
	if ct := ev.DataContentType(); ct != "" {
		h.Set(headerContentType, ct)
	}
	return &nats.Msg{Subject: subject, Header: h, Data: ev.Data()}
}

// Attributes calls set with every attribute and extension of ev that a
// binary-mode binding carries as a ce- header (all but datacontenttype,
// which each binding writes as its own content-type header): the header
// name (ce-id) and the value as text. The NATS binding (Encode) and
// the HTTP binding (webhook delivery) both write headers from it.
func Attributes(ev *event.Event, set func(name, value string)) {
	set("ce-specversion", ev.SpecVersion())
	set("ce-id", ev.ID())
	set("ce-source", ev.Source())
	set("ce-type", ev.Type())
	if !ev.Time().IsZero() {
		set("ce-time", ev.Time().UTC().Format(time.RFC3339Nano))
	}
	if s := ev.Subject(); s != "" {
		set("ce-subject", s)
	}
	if s := ev.DataSchema(); s != "" {
		set("ce-dataschema", s)
	}
	for k, v := range extensions(ev) {
		if s, ok := v.(string); ok {
			set("ce-"+k, s)
			continue
		}
		set("ce-"+k, fmt.Sprint(v))
	}
}

// DecodeError says why a message is not a CloudEvent. Code is invalid_json
// when the body of a structured event is not JSON and schema_violation when
// attributes are missing or malformed.
type DecodeError struct {
	Code  string
	Field string // the attribute at fault, when one is
	Err   error
}

// Error trims the sdk's validation messages, which end in a newline that
// would otherwise reach event.rejected's JSON as a literal \n.
func (e *DecodeError) Error() string {
	return "decode cloudevent: " + strings.TrimSpace(e.Err.Error())
}
func (e *DecodeError) Unwrap() error { return e.Err }

// Decode reads a CloudEvent in either mode of the NATS binding: binary (a
// ce-specversion header) or structured (the whole event as JSON in the body).
func Decode(msg *nats.Msg) (*event.Event, error) {
	binary := msg.Header != nil && msg.Header.Get("ce-specversion") != ""
	if !binary && !json.Valid(msg.Data) {
		return nil, &DecodeError{Code: CodeInvalidJSON, Err: errors.New("body is neither JSON nor a binary-mode event (no ce-specversion header)")}
	}
	ev, direct, err := decodeBinary(msg)
	if !direct {
		ev, err = binding.ToEvent(context.Background(), natsce.NewMessage(msg))
	}
	if err != nil {
		return nil, &DecodeError{Code: CodeSchemaViolation, Err: err}
	}
	if err := ev.Validate(); err != nil {
		return nil, &DecodeError{Code: CodeSchemaViolation, Err: err}
	}
	// CheckAttributes also refuses 0.3 events: the sdk reads them without
	// checking extension names, which Encode could then not write as headers.
	if p := CheckAttributes(ev); p != nil {
		return nil, &DecodeError{Code: p.Code, Field: p.Field, Err: errors.New(p.Message)}
	}
	if ev.DataContentType() == "" && len(ev.Data()) > 0 && !ev.DataBase64 {
		// The binding draft (binary mode) and the JSON event format §3.1.2
		// (structured mode) both make data without a content type JSON.
		ev.SetDataContentType(event.ApplicationJSON)
	}
	return ev, nil
}

// decodeBinary reads a binary-mode CloudEvents 1.0 message straight from
// its headers: what the SDK's binding (binding.ToEvent over the NATS
// protocol's Message) does, through the same setters of EventContextV1, so
// with the same trimming, parsing and errors, but without the binding's
// message and buffer, and without boxing every attribute on its way in.
// Most of Decode's allocations were the binding's. direct is false when the
// message is not one it reads (structured mode, another specversion, a ce-
// header with capitals, which the SDK matches case-insensitively and in
// random order, or datacontenttype given both as ce-datacontenttype and
// content-type, of which the SDK keeps either): Decode then asks the SDK.
// FuzzDecodeBinaryMatchesSDK holds the two to the same answers.
func decodeBinary(msg *nats.Msg) (ev *event.Event, direct bool, err error) {
	if msg.Header.Get("ce-specversion") != event.CloudEventsVersionV1 {
		return nil, false, nil
	}
	if _, ok := msg.Header["ce-datacontenttype"]; ok {
		if _, ok := msg.Header[headerContentType]; ok {
			return nil, false, nil
		}
	}
	for k := range msg.Header {
		if strings.HasPrefix(k, "ce-") && strings.IndexFunc(k, unicode.IsUpper) >= 0 {
			return nil, false, nil
		}
	}
	ec := &event.EventContextV1{}
	for k, v := range msg.Header {
		if len(v) == 0 {
			continue // not on the wire; the SDK would index it and panic
		}
		name, ce := strings.CutPrefix(k, "ce-")
		if !ce {
			if k == headerContentType {
				err = ec.SetDataContentType(v[0])
			}
		} else {
			err = setAttribute(ec, name, v[0])
		}
		if err != nil {
			return nil, true, err
		}
	}
	ev = &event.Event{Context: ec}
	if len(msg.Data) > 0 {
		// The binding keeps the body too, not a copy (bytes.Buffer.Bytes).
		ev.DataEncoded = msg.Data
	}
	return ev, true, nil
}

// setAttribute sets the attribute or extension a ce-<name> header carries,
// as the binding's spec accessors do (binding/spec/attributes.go).
func setAttribute(ec *event.EventContextV1, name, value string) error {
	switch name {
	case "specversion":
		return nil // 1.0, read first
	case "id":
		return ec.SetID(value)
	case "source":
		return ec.SetSource(value)
	case "type":
		return ec.SetType(value)
	case "datacontenttype":
		return ec.SetDataContentType(value)
	case "dataschema":
		return ec.SetDataSchema(value)
	case "subject":
		return ec.SetSubject(value)
	case "time":
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return fmt.Errorf("invalid value for time: %#v", value)
		}
		return ec.SetTime(t)
	}
	return ec.SetExtension(name, value)
}

// cleanAttribute reports whether v passes CheckAttributes: no control
// character, no space at either end.
func cleanAttribute(v string) bool {
	return strings.IndexFunc(v, unicode.IsControl) < 0 && strings.TrimSpace(v) == v
}

// Name is schemas.Name, kept for compatibility: event-type names belong to
// package schemas.
func Name(eventType string) string { return schemas.Name(eventType) }

// Type is schemas.Type, kept for compatibility.
func Type(name string) string { return schemas.Type(name) }

// CheckAttributes refuses what the hub cannot store as sent: other
// CloudEvents versions than 1.0 (the hub reads and writes 1.0 only),
// control characters in string attributes, which CloudEvents 1.0 forbids
// (type system, String), and spaces at either end: NATS headers carry neither
// unchanged, so the event would be stored under another id than the one
// answered.
func CheckAttributes(ev *event.Event) *Problem {
	if v := ev.SpecVersion(); v != event.CloudEventsVersionV1 {
		return &Problem{Code: CodeSchemaViolation, Message: fmt.Sprintf("specversion %q: events must be CloudEvents %s", v, event.CloudEventsVersionV1), Field: "specversion"}
	}
	// Almost every event is clean: look without allocating, and name the
	// first attribute at fault, in name order, only when one is.
	clean := cleanAttribute(ev.ID()) && cleanAttribute(ev.Source()) && cleanAttribute(ev.Type()) &&
		cleanAttribute(ev.Subject()) && cleanAttribute(ev.DataSchema()) && cleanAttribute(ev.DataContentType())
	for _, v := range extensions(ev) {
		if s, ok := v.(string); ok && !cleanAttribute(s) {
			clean = false
		}
	}
	if clean {
		return nil
	}
	attrs := map[string]string{"id": ev.ID(), "source": ev.Source(), "type": ev.Type(), "subject": ev.Subject(),
		"dataschema": ev.DataSchema(), "datacontenttype": ev.DataContentType()}
	for k, v := range extensions(ev) {
		if s, ok := v.(string); ok {
			attrs[k] = s
		}
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
			return &Problem{Code: CodeSchemaViolation, Message: fmt.Sprintf("%s: control character at byte %d; CloudEvents attributes cannot contain them", name, i), Field: name}
		}
		if strings.TrimSpace(v) != v {
			return &Problem{Code: CodeSchemaViolation, Message: fmt.Sprintf("%s %q starts or ends with a space", name, v), Field: name}
		}
	}
	return nil
}
