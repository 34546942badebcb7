package catalog_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/schemas/catalog"
)

// asyncAPISchema compiles the vendored AsyncAPI 3.0.0 JSON Schema, whose
// definitions (the document's parts, the bindings, draft-07 itself) are
// bundled in it, each under its own $id.
func asyncAPISchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/asyncapi/3.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const id = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile the AsyncAPI 3.0.0 schema: %v", err)
	}
	return sch
}

func newCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	v, err := schemas.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.New(v, catalog.Info{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheDocumentIsValidAsyncAPI3(t *testing.T) {
	sch := asyncAPISchema(t)
	c := newCatalog(t)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("the generated catalogue is not a valid AsyncAPI 3.0.0 document: %v", err)
	}
	// The YAML form is the same document.
	var fromYAML any
	if err := yaml.Unmarshal(c.YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(fromYAML)
	var a, b any
	_ = json.Unmarshal(again, &a)
	_ = json.Unmarshal(c.JSON(), &b)
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	if !bytes.Equal(x, y) {
		t.Error("the YAML document differs from the JSON one")
	}
}

func TestTheValidatorRejectsABrokenDocument(t *testing.T) {
	sch := asyncAPISchema(t)
	cases := []struct {
		name string
		doc  string
	}{
		{"a document without info is refused", `{"asyncapi": "3.0.0"}`},
		{"a 2.6 document is refused", `{"asyncapi": "2.6.0", "info": {"title": "x", "version": "1"}}`},
		{"an operation without action is refused", `{"asyncapi": "3.0.0", "info": {"title": "x", "version": "1"}, "operations": {"a": {"channel": {"$ref": "#/channels/x"}}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if sch.Validate(doc) == nil {
				t.Error("Validate = nil, want an error")
			}
		})
	}
}

func TestEveryEventTypeHasAMessageWithAValidExample(t *testing.T) {
	v, err := schemas.New()
	if err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t)
	var doc struct {
		Channels   map[string]struct{ Address string } `json:"channels"`
		Components struct {
			Messages map[string]struct {
				Name     string `json:"name"`
				Examples []struct {
					Payload json.RawMessage `json:"payload"`
				} `json:"examples"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(c.JSON(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, typ := range v.Types() {
		t.Run(typ, func(t *testing.T) {
			m, ok := doc.Components.Messages[strings.ReplaceAll(bus.Name(typ), ".", "_")]
			if !ok || m.Name != typ {
				t.Fatalf("no message for %s", typ)
			}
			if len(m.Examples) != 1 {
				t.Fatalf("%d examples, want 1", len(m.Examples))
			}
			if err := v.Validate(typ, m.Examples[0].Payload); err != nil {
				t.Errorf("the example of %s is not valid: %v", typ, err)
			}
			e, _ := c.Event(typ)
			if len(e.Channels) == 0 {
				t.Errorf("%s travels on no channel", typ)
			}
		})
	}
	for _, addr := range []string{"xd.in.{account}.order.placed", "xd.in.wh.{warehouse}.shipment.dispatched",
		"xd.routed.{tier}.{account}.order.placed", "xd.out.{account}.order.accepted", "xd.wh.{warehouse}.fulfillment.requested",
		"xd.dlq.{account}.{code}", "xd.raw.{account}.{format}"} {
		found := false
		for _, ch := range doc.Channels {
			found = found || ch.Address == addr
		}
		if !found {
			t.Errorf("no channel with address %s", addr)
		}
	}
}
