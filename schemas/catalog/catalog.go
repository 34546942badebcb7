// Package catalog makes the hub's event catalogue: an AsyncAPI 3.0 document
// generated from the embedded JSON Schemas (package schemas), their examples
// and the subject scheme (Routes), never written by hand, so that it cannot
// drift from what the hub validates and where it publishes. The HTTP API
// serves it at GET /v1/catalog (JSON or YAML) with each type's schema at GET
// /v1/schemas/{type}; the operator console browses it.
package catalog

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
)

// SchemaFormat is the schemaFormat of every payload: the schemas are JSON
// Schema draft 2020-12, which AsyncAPI 3.0 admits as a multi-format schema.
const SchemaFormat = "application/schema+json;version=draft-2020-12"

// Info is what the document says about the deployment it describes.
type Info struct {
	Version string // the hub's version; "" means "1.0.0"
	NATS    string // host:port of the NATS server customers connect to; "" means localhost:4222
	HTTP    string // host:port of the HTTP API; "" means localhost:8080
}

// Catalog is a generated catalogue: the AsyncAPI document and what the
// console shows of it.
type Catalog struct {
	doc    map[string]any
	json   []byte
	yaml   []byte
	events []Event
	schema map[string][]byte
}

// Event is one event type as the console's catalogue browser lists it.
type Event struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Example     json.RawMessage `json:"example"`
	Channels    []EventChannel  `json:"channels"`
	Schema      json.RawMessage `json:"-"`
}

// EventChannel is one subject an event travels on and who uses it there.
type EventChannel struct {
	Subject    string   `json:"subject"`
	Stream     string   `json:"stream"`
	Publishers []string `json:"publishers"`
	Consumers  []string `json:"consumers"`
}

var paramRE = regexp.MustCompile(`\{([a-z]+)\}`)

// New generates the catalogue from v's schemas, the schemas package's
// examples and Routes. It fails when a route names an event type without a
// schema or a schema has no example: both are bugs found by the tests.
func New(v *schemas.Validator, info Info) (*Catalog, error) {
	if info.Version == "" {
		info.Version = "1.0.0"
	}
	if info.NATS == "" {
		info.NATS = "localhost:4222"
	}
	if info.HTTP == "" {
		info.HTTP = "localhost:8080"
	}
	c := &Catalog{schema: map[string][]byte{}}
	compSchemas := map[string]any{}
	messages := map[string]any{}
	byType := map[string]*Event{}
	for _, typ := range v.Types() {
		raw, _ := v.Schema(typ)
		var sch map[string]any
		if err := json.Unmarshal(raw, &sch); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", typ, err)
		}
		ex, ok := schemas.Example(typ)
		if !ok {
			return nil, fmt.Errorf("schema of %s: no example in schemas/testdata/valid", typ)
		}
		var example any
		if err := json.Unmarshal(ex, &example); err != nil {
			return nil, fmt.Errorf("example of %s: %w", typ, err)
		}
		id := componentID(typ)
		desc, _ := sch["description"].(string)
		c.schema[typ] = raw
		compSchemas[id] = map[string]any{
			"schemaFormat": SchemaFormat,
			"schema":       rebase(sch, "#/components/schemas/"+id+"/schema"),
		}
		messages[id] = map[string]any{
			"name":        typ,
			"title":       bus.Name(typ),
			"summary":     firstSentence(desc),
			"description": desc,
			"contentType": "application/json",
			"traits":      []any{map[string]any{"$ref": "#/components/messageTraits/cloudevent"}},
			"payload":     map[string]any{"$ref": "#/components/schemas/" + id},
			"examples":    []any{map[string]any{"name": bus.Name(typ), "summary": "schemas/testdata/valid/" + typ + ".json", "payload": example}},
		}
		compact, _ := json.Marshal(example)
		byType[typ] = &Event{Type: typ, Name: bus.Name(typ), Title: bus.Name(typ), Description: desc, Example: compact, Schema: raw}
	}
	messages["file"] = map[string]any{
		"name": "file", "title": "partner file",
		"summary":     "A partner's file as sent (X12 interchange, CSV, …); an adapter turns it into events.",
		"contentType": "application/octet-stream",
		"payload":     map[string]any{"type": "string"},
	}
	messages["dead_letter"] = map[string]any{
		"name": "dead_letter", "title": "dead letter",
		"summary":     "The original message's headers and bytes, with Crossdock-Dlq-* headers saying why it could not be processed.",
		"contentType": "application/octet-stream",
		"headers": map[string]any{
			"type":     "object",
			"required": []any{bus.HeaderDLQCode, bus.HeaderDLQSubject},
			"properties": map[string]any{
				bus.HeaderDLQCode:     map[string]any{"type": "string", "description": "The stable error code."},
				bus.HeaderDLQErrors:   map[string]any{"type": "string", "description": "JSON array of {code, message, field}."},
				bus.HeaderDLQSubject:  map[string]any{"type": "string", "description": "The subject the message failed on (redrive sends it back there)."},
				bus.HeaderDLQStream:   map[string]any{"type": "string"},
				bus.HeaderDLQSequence: map[string]any{"type": "string"},
				bus.HeaderDLQConsumer: map[string]any{"type": "string"},
				bus.HeaderDLQAttempts: map[string]any{"type": "string"},
				bus.HeaderDLQTime:     map[string]any{"type": "string", "description": "RFC 3339 time it was dead-lettered."},
			},
		},
		"payload": map[string]any{"description": "The original bytes."},
	}

	channels := map[string]any{}
	operations := map[string]any{}
	for _, r := range Routes {
		names := r.Events
		if r.Payload != "" {
			names = []string{""}
		}
		for _, name := range names {
			address, msg, key := r.Pattern+"."+name, "", r.Key+"."+name
			if r.Payload != "" {
				address, msg, key = r.Pattern, r.Payload, r.Key
			} else {
				typ := bus.Type(name)
				if _, ok := byType[typ]; !ok {
					return nil, fmt.Errorf("route %s: event %s has no schema", r.Key, typ)
				}
				msg = componentID(typ)
			}
			pubs, cons := r.Who(name)
			ch := map[string]any{
				"address":      address,
				"title":        address,
				"description":  r.Description,
				"messages":     map[string]any{msg: map[string]any{"$ref": "#/components/messages/" + msg}},
				"x-stream":     r.Stream,
				"x-publishers": pubs,
				"x-consumers":  cons,
			}
			if ps := paramRE.FindAllStringSubmatch(address, -1); len(ps) > 0 {
				m := map[string]any{}
				for _, p := range ps {
					m[p[1]] = map[string]any{"description": params[p[1]]}
				}
				ch["parameters"] = m
			}
			channels[key] = ch
			operations[r.Action+"."+key] = map[string]any{
				"action":   r.Action,
				"channel":  map[string]any{"$ref": "#/channels/" + escapeRef(key)},
				"summary":  fmt.Sprintf("The hub %ss %s on %s.", r.Action, describe(name, r.Payload), address),
				"messages": []any{map[string]any{"$ref": "#/channels/" + escapeRef(key) + "/messages/" + msg}},
			}
			if name != "" {
				ev := byType[bus.Type(name)]
				ev.Channels = append(ev.Channels, EventChannel{Subject: address, Stream: r.Stream, Publishers: pubs, Consumers: cons})
			}
		}
	}
	for _, typ := range v.Types() {
		c.events = append(c.events, *byType[typ])
	}

	c.doc = map[string]any{
		"asyncapi": "3.0.0",
		"id":       "urn:crossdock:hub",
		"info": map[string]any{
			"title":   "crossdock",
			"version": info.Version,
			"description": "The events a crossdock hub takes and makes: CloudEvents 1.0 in the NATS protocol binding " +
				"(the hub writes binary mode, ce- headers with the data as the body, and reads structured mode too), " +
				"each data valid against its JSON Schema (GET /v1/schemas/{type}). Generated from the hub's schemas and subject scheme.",
		},
		"defaultContentType": "application/json",
		"servers": map[string]any{
			"nats": map[string]any{
				"host": info.NATS, "protocol": "nats",
				"description": "The hub's NATS with JetStream: a customer connects as user <account id> with its API key as password.",
			},
			"http": map[string]any{
				"host": info.HTTP, "protocol": "http", "pathname": "/v1/events",
				"description": "CloudEvents HTTP binding (POST /v1/events) with Authorization: Bearer <API key>.",
			},
		},
		"channels":   channels,
		"operations": operations,
		"components": map[string]any{
			"schemas":  compSchemas,
			"messages": messages,
			"messageTraits": map[string]any{
				"cloudevent": map[string]any{
					"description": "CloudEvents 1.0 attributes in binary mode (ce- headers).",
					"headers": map[string]any{
						"type":     "object",
						"required": []any{"ce-specversion", "ce-id", "ce-type", "ce-source"},
						"properties": map[string]any{
							"ce-specversion": map[string]any{"type": "string", "const": "1.0"},
							"ce-id":          map[string]any{"type": "string", "description": "Unique per source; a retry with the same id is not a second event."},
							"ce-type":        map[string]any{"type": "string"},
							"ce-source":      map[string]any{"type": "string", "description": "/accounts/<account>, /warehouses/<warehouse> or /crossdock/<service>."},
							"ce-time":        map[string]any{"type": "string", "format": "date-time"},
							"ce-account":     map[string]any{"type": "string", "description": "The account the event concerns."},
							"ce-causationid": map[string]any{"type": "string", "description": "On events the hub makes: the id of the event they answer."},
							"ce-traceparent": map[string]any{"type": "string", "description": "W3C trace context, kept from the cause."},
						},
					},
				},
			},
		},
	}
	var err error
	if c.json, err = json.MarshalIndent(c.doc, "", "  "); err != nil {
		return nil, fmt.Errorf("encode catalogue: %w", err)
	}
	if c.yaml, err = yaml.Marshal(c.doc); err != nil {
		return nil, fmt.Errorf("encode catalogue as YAML: %w", err)
	}
	return c, nil
}

// JSON returns the AsyncAPI document as JSON.
func (c *Catalog) JSON() []byte { return c.json }

// YAML returns the AsyncAPI document as YAML.
func (c *Catalog) YAML() []byte { return c.yaml }

// Events returns every event type with its example and channels, sorted by type.
func (c *Catalog) Events() []Event { return slices.Clone(c.events) }

// Event returns one event type (by type or name) and whether it exists.
func (c *Catalog) Event(typeOrName string) (Event, bool) {
	for _, e := range c.events {
		if e.Type == typeOrName || e.Name == typeOrName {
			return e, true
		}
	}
	return Event{}, false
}

// Schema returns the JSON Schema of an event type (by type or name), as
// stored in schemas/.
func (c *Catalog) Schema(typeOrName string) ([]byte, bool) {
	e, ok := c.Event(typeOrName)
	if !ok {
		return nil, false
	}
	return c.schema[e.Type], true
}

// componentID is a type's id among the components: the event name with
// underscores, which the component key pattern allows ("order.placed" would
// too, but reads like a path).
func componentID(typ string) string { return strings.ReplaceAll(bus.Name(typ), ".", "_") }

// escapeRef escapes a JSON pointer token (RFC 6901 §3).
func escapeRef(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// rebase points a schema's local references ("#/$defs/gln") at where the
// schema sits in the document.
func rebase(v any, at string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" && strings.HasPrefix(s, "#") {
				out[k] = at + strings.TrimPrefix(s, "#")
				continue
			}
			out[k] = rebase(e, at)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rebase(e, at)
		}
		return out
	}
	return v
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

func describe(name, payload string) string {
	switch payload {
	case "file":
		return "partners' files"
	case "dead_letter":
		return "dead letters"
	}
	return bus.Type(name)
}
