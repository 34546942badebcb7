// Package adapters is the extension point for integration engineers: it turns
// a partner's own file format (ANSI X12, CSV, cXML, …) into the hub's
// CloudEvents, and, where a partner wants answers in its format, the hub's
// events back into that format.
//
// An adapter is one package that registers itself in its init function, the
// way database/sql drivers do:
//
//	func init() { adapters.Register(New()) }
//
// and adapters/all imports every adapter of this tree for its side effect. The
// gateway looks a format up by name (POST /v1/ingest/{format}, NATS
// xd.raw.<account>.<format>), decodes the payload for the authenticated sender
// and sends what comes out through the same checks as any event. Nothing else
// in the tree changes to add a format. The conformance kit in
// adapters/adaptertest checks the rules every adapter keeps.
package adapters

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/google/uuid"

	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/problem"
)

// Adapter decodes one format into events. Implementations must be safe for
// concurrent use and must never panic, whatever the bytes.
type Adapter interface {
	// Info describes the format: its name, what it takes and what it makes.
	Info() Info
	// Decode turns a payload into events for the sender in in. It returns
	// the events of every unit (transaction set, order) that decoded, and,
	// when some did not, an *Error naming each failed unit, its line or
	// segment, and why: a unit is all or nothing, a file is not. Event ids
	// are derived from the content and the sender (see ID), so the same
	// file decoded twice makes the same ids.
	Decode(in Input) ([]*event.Event, error)
}

// Encoder is implemented by adapters that can write hub events back in their
// format, for partners that want answers (an 855 for an order.accepted).
type Encoder interface {
	// Encode writes events as one document of the format for the party
	// they go to. It returns an error for an event type not in
	// Info().Encodes.
	Encode(evs []*event.Event, to Party) ([]byte, error)
}

// Acknowledger is implemented by adapters whose format has its own receipt,
// such as the X12 997 functional acknowledgment: the gateway returns it with
// the answer to a file, so a partner's EDI system can reconcile what it sent.
type Acknowledger interface {
	// Acknowledge writes the receipt of data as decoded for in; control is
	// the receipt's control number.
	Acknowledge(data []byte, in Input, control int) ([]byte, error)
}

// Party is who an encoded document is addressed to, with the identifiers
// an envelope needs.
type Party struct {
	Account   string // account id, or "" for a warehouse
	Warehouse string // warehouse id, or "" for an account
	// Control is the sender's control number for the document (X12 ISA13,
	// GS06), unique per partner; zero lets the encoder pick 1.
	Control int
	// InterchangeID and Qualifier are the party's own envelope address
	// (X12 ISA08 and ISA07), when it has one; empty means the upper-cased
	// account or warehouse id, qualifier ZZ (mutually defined).
	InterchangeID string
	Qualifier     string
}

// Input is one payload to decode and who sent it.
type Input struct {
	Data []byte
	// Account is the authenticated account that sent the payload, or, for a
	// warehouse, the account the payload concerns when the sender named it.
	Account string
	// Warehouse is set when a warehouse sent the payload.
	Warehouse string
	// AccountOf finds the account a location (GLN) belongs to, for payloads
	// from warehouses that name the ship-to rather than the account. May be
	// nil; then such payloads need Account.
	AccountOf func(gln string) (account string, ok bool)
}

// Source is the CloudEvents source of events decoded for this input:
// /accounts/<account> or /warehouses/<warehouse>.
func (in Input) Source() string {
	if in.Warehouse != "" {
		return "/warehouses/" + in.Warehouse
	}
	return "/accounts/" + in.Account
}

// Info describes an adapter for GET /v1/adapters and for the ingest
// endpoint's checks.
type Info struct {
	// Format is the name in /v1/ingest/{format} and xd.raw.<account>.<format>:
	// lower-case letters, digits and hyphens.
	Format string `json:"format"`
	// Description says in a sentence what the format is.
	Description string `json:"description"`
	// ContentTypes are the media types the format is sent as, the usual
	// one first.
	ContentTypes []string `json:"content_types"`
	// Extensions are the file name extensions the format is usually saved
	// under (".edi"), for tools that guess a file's format (crossdock send).
	Extensions []string `json:"-"`
	// Takes names what the adapter reads (e.g. "850 purchase order").
	Takes []string `json:"takes"`
	// Makes are the event types Decode produces.
	Makes []string `json:"makes"`
	// Encodes are the event types Encode writes (none when it has no encoder).
	Encodes []string `json:"encodes,omitempty"`
	// Senders are who may send the format: "accounts", "warehouses" or both.
	Senders []string `json:"senders"`
}

// Sender kinds in Info.Senders.
const (
	SenderAccounts   = "accounts"
	SenderWarehouses = "warehouses"
)

// Error is the failure of some units of a payload. Each problem names its
// unit and place in Field ("ST 0002 segment 5 (PO1) element 02",
// "line 4 column quantity") and carries a stable code (problem.Code*).
type Error struct {
	Problems []problem.Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Message
		if p.Field != "" {
			parts[i] = p.Field + ": " + p.Message
		}
	}
	return strings.Join(parts, "; ")
}

// Errorf returns an *Error with one parse_error problem at field.
func Errorf(field, format string, args ...any) *Error {
	return &Error{Problems: []problem.Problem{{Code: problem.CodeParseError, Message: fmt.Sprintf(format, args...), Field: field}}}
}

// Problems returns the problems of err: those of an *Error, or one
// parse_error with err's text for any other error.
func Problems(err error) []problem.Problem {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Problems
	}
	return []problem.Problem{{Code: problem.CodeParseError, Message: err.Error()}}
}

// idNamespace scopes adapter-made event ids (UUIDv5).
var idNamespace = uuid.MustParse("3b0c5a52-8f7e-4d0e-9a51-2c6a3d1f5e90")

// ID derives the id of an event decoded from a document: the same format,
// sender and key give the same id, so a resent file stores nothing new
// (JetStream drops the duplicate Nats-Msg-Id). key should name the business
// document, not the transmission: a PO number for an order, so that a
// partner's retransmission under a new interchange control number is still
// the same order.
func ID(format string, in Input, eventType, key string) string {
	// uuid.NewSHA1(idNamespace, format \0 sender \0 eventType \0 key),
	// hashed from a buffer on the stack: a partner file makes an id per
	// order, and NewSHA1 allocates four times for each.
	var buf [256]byte
	b := append(buf[:0], idNamespace[:]...)
	b = append(b, format...)
	if in.Warehouse != "" {
		b = append(b, "\x00w:"...)
		b = append(b, in.Warehouse...)
	} else {
		b = append(b, "\x00a:"...)
		b = append(b, in.Account...)
	}
	b = append(b, 0)
	b = append(b, eventType...)
	b = append(b, 0)
	b = append(b, key...)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x50 // version 5 (RFC 9562 §5.5)
	id[8] = id[8]&0x3f | 0x80 // variant 10
	return id.String()
}

// NewEvent makes an event decoded from a document: id from ID, source from
// the sender, the account extension set when known, data as JSON (written by
// data's own AppendJSON(b []byte) []byte when it has one, byte for byte what
// encoding/json writes, else by encoding/json). It sets
// no time: the document's time is in the data, and a decoded event is the
// same whenever the file is decoded.
func NewEvent(format string, in Input, account, eventType, key string, data any) (*event.Event, error) {
	ec := &event.EventContextV1{} // what event.New makes
	ev := event.Event{Context: ec}
	ev.SetID(ID(format, in, eventType, key))
	ev.SetType(eventType)
	setSource(&ev, ec, in.Source())
	if account != "" {
		// What SetExtension stores for a string, without checking a name
		// that is a constant, once per event of a file.
		ec.Extensions = map[string]any{envelope.ExtAccount: account}
	}
	if a, ok := data.(jsonAppender); ok {
		// What SetData would store, without its reflection.
		// Written into a reused buffer, then copied at its exact size.
		ev.SetDataContentType(event.ApplicationJSON)
		buf := jsonBuffers.Get().(*[]byte)
		b := a.AppendJSON((*buf)[:0])
		ev.DataEncoded = bytes.Clone(b)
		if cap(b) <= maxPooledJSON {
			*buf = b
			jsonBuffers.Put(buf)
		}
		return &ev, nil
	}
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		return nil, fmt.Errorf("encode %s data: %w", eventType, err)
	}
	return &ev, nil
}

// parsedSource is a source and its URL as SetSource parses it.
type parsedSource struct {
	s string
	u url.URL
}

// lastSource is the source of the last event made: the events of one file
// share it, and parsing it once per event was a twentieth of a partner
// file's decode.
var lastSource atomic.Pointer[parsedSource]

// setSource is ev.SetSource(s), parsing s only when it is not the last
// source seen.
func setSource(ev *event.Event, ec *event.EventContextV1, s string) {
	if p := lastSource.Load(); p != nil && p.s == s {
		ec.Source = types.URIRef{URL: p.u}
		return
	}
	ev.SetSource(s)
	if ev.FieldErrors == nil {
		lastSource.Store(&parsedSource{s: s, u: ec.Source.URL})
	}
}

// jsonBuffers are the buffers NewEvent writes data into; one that grew past
// maxPooledJSON (an order of thousands of lines) is left to the collector.
var jsonBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledJSON = 256 << 10

// Registry holds adapters by format name. The package-level functions use
// a default registry that adapter packages fill in init; tests build their
// own with NewRegistry.
type Registry struct {
	mu       sync.RWMutex
	adapters map[string]Adapter
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{adapters: map[string]Adapter{}} }

// Register adds a. It panics when the format name is malformed or taken,
// as database/sql.Register does: both are programming errors found at start.
func (r *Registry) Register(a Adapter) {
	name := a.Info().Format
	if !validFormat(name) {
		panic(fmt.Sprintf("adapters: format name %q: want 1 to 32 lower-case letters, digits or hyphens", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.adapters[name]; dup {
		panic("adapters: Register called twice for format " + name)
	}
	r.adapters[name] = a
}

// Lookup returns the adapter of a format.
func (r *Registry) Lookup(format string) (Adapter, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.adapters[format]
	return a, ok
}

// List returns the adapters' descriptions, sorted by format.
func (r *Registry) List() []Info {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Info, 0, len(r.adapters))
	for _, a := range r.adapters {
		out = append(out, a.Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Format < out[j].Format })
	return out
}

// Formats returns the registered format names, sorted.
func (r *Registry) Formats() []string {
	var out []string
	for _, i := range r.List() {
		out = append(out, i.Format)
	}
	return out
}

func validFormat(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool {
		return !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-')
	})
}

// Default is the registry adapter packages register with in init.
var Default = NewRegistry()

// Register adds a to the default registry; call it from an adapter
// package's init.
func Register(a Adapter) { Default.Register(a) }

// Lookup returns the adapter of a format from the default registry.
func Lookup(format string) (Adapter, bool) { return Default.Lookup(format) }

// List describes the adapters of the default registry.
func List() []Info { return Default.List() }
