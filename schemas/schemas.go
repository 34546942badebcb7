// Package schemas holds the JSON Schema (draft 2020-12) of the data of every
// crossdock CloudEvent type, one file per type named <type>.json, and a
// Validator that checks event data against them.
//
// The gateway validates every incoming event with it before the event goes
// on; services validate the events they make in tests. A violation names the
// field at fault (lines[2].gtin) in words a customer's integration engineer
// understands, so it can go straight into a rejection's errors[].
//
// The schema files are what the HTTP API serves and what customers read, so
// each is self-contained: shared pieces live in its own $defs. Two custom
// formats are asserted: "gln" and "gtin" (GS1 check digit included). Where the
// generic message of a keyword would not help a person, a subschema carries
// an "errorMessage" annotation (the ajv-errors convention), an object from
// keyword to message in which {value} stands for the offending value, e.g.
// "errorMessage": {"pattern": "{value} is not a unit code: …"}.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// baseURL is where the embedded schemas live for the compiler; it never
// reaches a message.
const baseURL = "mem://crossdock/schemas/"

// ErrUnknownType is returned, wrapped with the type, by Validate for an event
// type that has no schema.
var ErrUnknownType = errors.New("unknown event type")

// Validator validates event data against the embedded schemas. Safe for
// concurrent use; build once.
type Validator struct {
	types   []string
	entries map[string]*entry
	// messages holds the errorMessage annotations of the schemas: by schema
	// location (as in jsonschema.ValidationError.SchemaURL), by keyword.
	messages map[string]map[string]string
}

type entry struct {
	raw    []byte
	schema *jsonschema.Schema
	// quick, when set, proves clean data valid without the generic path.
	quick func(data []byte) bool
	// check runs the rules JSON Schema cannot say, after the schema passed.
	check func(doc any) []Violation
}

// checks are the rules beyond JSON Schema, by event type.
var checks = map[string]func(doc any) []Violation{
	OrderPlaced:          uniqueLines,
	OrderAccepted:        uniqueLines,
	FulfillmentRequested: uniqueLines,
	InventoryReported:    uniqueGTINs,
	ForecastShared:       uniqueForecastLines,
}

// New compiles every embedded schema once.
func New() (*Validator, error) {
	names, err := files.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("list embedded schemas: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(glnFormat)
	c.RegisterFormat(gtinFormat)
	c.UseLoader(noLoader{})

	v := &Validator{entries: map[string]*entry{}, messages: map[string]map[string]string{}}
	for _, de := range names {
		name := de.Name()
		raw, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		doc, err = inlineRefs(doc)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(baseURL+name, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		if err := collectMessages(v.messages, baseURL+name+"#", doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		typ := strings.TrimSuffix(name, path.Ext(name))
		v.types = append(v.types, typ)
		v.entries[typ] = &entry{raw: raw, check: checks[typ], quick: quick[typ]}
	}
	for _, typ := range v.types {
		sch, err := c.Compile(baseURL + typ + ".json")
		if err != nil {
			return nil, fmt.Errorf("compile schema of %s: %w", typ, err)
		}
		v.entries[typ].schema = sch
	}
	slices.Sort(v.types)
	return v, nil
}

// noLoader refuses to load anything: the embedded schemas are self-contained,
// so a reference out of them is a bug, not a reason to touch the network.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas refer only to themselves, not to %s", url)
}

// collectMessages records the errorMessage annotation of every subschema of
// doc, a schema document whose location is loc (a URL ending in a JSON
// pointer).
func collectMessages(into map[string]map[string]string, loc string, doc any) error {
	switch d := doc.(type) {
	case map[string]any:
		for k, sub := range d {
			if k != "errorMessage" {
				if err := collectMessages(into, loc+"/"+escapePointer(k), sub); err != nil {
					return err
				}
				continue
			}
			msgs, ok := sub.(map[string]any)
			if !ok {
				return fmt.Errorf("errorMessage at %s is not an object", loc)
			}
			into[loc] = map[string]string{}
			for kw, m := range msgs {
				s, ok := m.(string)
				if !ok {
					return fmt.Errorf("errorMessage %s at %s is not a string", kw, loc)
				}
				into[loc][kw] = s
			}
		}
	case []any:
		for i, sub := range d {
			if err := collectMessages(into, fmt.Sprintf("%s/%d", loc, i), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// escapePointer escapes a JSON pointer token (RFC 6901 §3).
func escapePointer(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// Types returns the event types the Validator knows, sorted.
func (v *Validator) Types() []string {
	return slices.Clone(v.types)
}

// Known reports whether eventType has a schema.
func (v *Validator) Known(eventType string) bool {
	_, ok := v.entries[eventType]
	return ok
}

// Schema returns a copy of the raw JSON Schema of eventType's data, for
// serving and documentation, and whether there is one.
func (v *Validator) Schema(eventType string) ([]byte, bool) {
	e, ok := v.entries[eventType]
	if !ok {
		return nil, false
	}
	return bytes.Clone(e.raw), true
}

// Validate checks data (raw JSON bytes) for eventType. It returns nil,
// ErrUnknownType (wrapped with the type), an *InvalidJSONError (data is not
// JSON: message says where, e.g. offset), or a *ViolationError listing every
// violation.
func (v *Validator) Validate(eventType string, data []byte) error {
	e, ok := v.entries[eventType]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownType, eventType)
	}
	if e.quick != nil && e.check == nil && e.quick(data) {
		return nil
	}
	return v.validate(e, eventType, data)
}

// validate is Validate's generic path: decode, numbers' range, schema,
// extra rules.
func (v *Validator) validate(e *entry, eventType string, data []byte) error {
	doc, err := decode(data)
	if err != nil {
		return err
	}
	// Huge numbers make the schema library's exact arithmetic slow or, past
	// math/big's limits, panic; no event needs them.
	if !numbersInRange(doc) {
		vs := numberViolations(doc, doc, nil, nil)
		sortViolations(vs)
		return &ViolationError{Violations: vs}
	}
	if err := e.schema.Validate(doc); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return fmt.Errorf("validate %s data: %w", eventType, err)
		}
		return &ViolationError{Violations: v.violations(verr, doc)}
	}
	if e.check != nil {
		if vs := e.check(doc); len(vs) > 0 {
			sortViolations(vs)
			return &ViolationError{Violations: vs}
		}
	}
	return nil
}

// decode parses data as one JSON value, numbers as json.Number, as
// jsonschema.UnmarshalJSON does, but says where the data goes wrong.
func decode(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &InvalidJSONError{Err: errors.New("data is empty")}
	}
	if !utf8.Valid(data) {
		return nil, &InvalidJSONError{Err: fmt.Errorf("invalid UTF-8 at offset %d", invalidUTF8At(data))}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("unexpected end of data at offset %d", len(data))
		}
		return nil, &InvalidJSONError{Err: err}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		rest := data[end:]
		at := end + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
		return nil, &InvalidJSONError{Err: fmt.Errorf("unexpected data after the JSON value at offset %d", at)}
	}
	return doc, nil
}

func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// InvalidJSONError reports event data that is not one well-formed JSON value.
type InvalidJSONError struct {
	// Err says what is wrong and where; a *json.SyntaxError carries the
	// offset in Offset.
	Err error
}

// Error returns the reason with its byte offset in the data.
func (e *InvalidJSONError) Error() string {
	if se, ok := e.Err.(*json.SyntaxError); ok {
		return fmt.Sprintf("data is not valid JSON: %v at offset %d", se, se.Offset)
	}
	return fmt.Sprintf("data is not valid JSON: %v", e.Err)
}

// Unwrap returns Err.
func (e *InvalidJSONError) Unwrap() error { return e.Err }

// Violation is one way in which event data breaks its schema.
type Violation struct {
	// Field is the field at fault, as in lines[2].gtin; "" for the data as a
	// whole.
	Field string
	// Message says what is wrong in a sentence a person understands, e.g.
	// `"0614141000006" is not a valid GTIN: check digit should be 5`.
	Message string
}

// ViolationError reports event data that is JSON but breaks its schema (or a
// rule the schema cannot express, such as unique line numbers). It lists
// every violation, sorted by field.
type ViolationError struct {
	// Violations is never empty.
	Violations []Violation
}

// Error joins the violations as "field: message; field: message".
func (e *ViolationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid event data: ")
	for i, vi := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		if vi.Field != "" {
			b.WriteString(vi.Field)
			b.WriteString(": ")
		}
		b.WriteString(vi.Message)
	}
	return b.String()
}

// inlineRefs replaces every local reference "$ref": "#/$defs/<name>" in doc
// by a copy of the definition it points to, merged with the reference's
// sibling keywords, and drops $defs. The files keep their $defs for people to
// read; the compiled schema has no references, which saves the validator a
// scope and an evaluation per referenced value.
func inlineRefs(doc any) (any, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return doc, nil
	}
	defs, _ := root["$defs"].(map[string]any)
	out, err := inline(root, defs, 0)
	if err != nil {
		return nil, err
	}
	delete(out.(map[string]any), "$defs")
	return out, nil
}

func inline(v any, defs map[string]any, depth int) (any, error) {
	if depth > 32 {
		return nil, errors.New("$ref nests too deep (a cycle?)")
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		if ref, ok := v["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, "#/$defs/")
			def, found := defs[name].(map[string]any)
			if !ok || !found {
				return nil, fmt.Errorf("$ref %q: only references to #/$defs/<name> are supported", ref)
			}
			d, err := inline(def, defs, depth+1)
			if err != nil {
				return nil, err
			}
			for k, x := range d.(map[string]any) {
				out[k] = x
			}
		}
		for k, x := range v {
			if k == "$ref" {
				continue
			}
			if k == "$defs" {
				out[k] = x
				continue
			}
			if _, dup := out[k]; dup && k != "description" {
				return nil, fmt.Errorf("keyword %q both beside a $ref and in the definition", k)
			}
			y, err := inline(x, defs, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			y, err := inline(x, defs, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		return out, nil
	}
	return v, nil
}
