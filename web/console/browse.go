package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas/catalog"
	"github.com/crossdock/crossdock/trace"
	"github.com/crossdock/crossdock/web"
)

// traceKinds are the trace page's search keys, as the API names them.
var traceKinds = []struct{ Key, Label string }{
	{"po", "PO number"}, {"id", "Event id"}, {"epc", "EPC (hex or URI)"},
	{"isa", "X12 interchange (ISA13)"}, {"gs", "X12 group (GS06)"}, {"st", "X12 set (ST02)"},
}

// traceView is the trace page.
type traceView struct {
	Kinds   any
	Kind    string
	Value   string
	Account string
	Result  *trace.Result
	Errors  web.Errors
}

func (c *Console) tracePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := traceView{Kinds: traceKinds, Kind: q.Get("kind"), Value: q.Get("q"), Account: q.Get("account")}
	if v.Kind == "" {
		v.Kind = "po"
	}
	if v.Value == "" {
		c.render(w, r, http.StatusOK, "trace", "Trace", v, Base+"/trace")
		return
	}
	query, err := traceQuery(v.Kind, v.Value, v.Account)
	if err == nil {
		ctx, cancel := ctx(r)
		defer cancel()
		v.Result, err = c.cfg.Tracer.Trace(ctx, query)
	}
	status := http.StatusOK
	switch {
	case errors.Is(err, trace.ErrNotFound):
		status = http.StatusNotFound
		v.Errors = web.Errors{{Code: problem.CodeNotFound, Message: err.Error(), Field: "q"}}
	case err != nil:
		status = http.StatusBadRequest
		v.Errors = web.Errors{{Code: "schema_violation", Message: err.Error(), Field: "q"}}
	}
	c.render(w, r, status, "trace", "Trace", v, Base+"/trace")
}

// traceQuery makes the API's query from the page's form.
func traceQuery(kind, value, account string) (trace.Query, error) {
	v := url.Values{kind: {value}}
	q := trace.Query{PO: v.Get("po"), ID: v.Get("id"), EPC: v.Get("epc"), ISA: v.Get("isa"), GS: v.Get("gs"), ST: v.Get("st"), Account: account}
	return q, q.Valid()
}

func (c *Console) catalogPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "catalog", "Event catalogue", struct {
		Events []catalog.Event
		Routes []catalog.Route
	}{c.cfg.Catalog.Events(), catalog.Routes}, Base+"/catalog")
}

// eventView is one event type's page.
type eventView struct {
	catalog.Event
	ExampleText string
	SchemaText  string
	Since       time.Duration
}

func (c *Console) eventPage(w http.ResponseWriter, r *http.Request) {
	e, ok := c.cfg.Catalog.Event(r.PathValue("name"))
	if !ok {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", "no event type "+r.PathValue("name"), Base+"/catalog")
		return
	}
	v := eventView{Event: e, ExampleText: indent(e.Example), SchemaText: indent(e.Schema)}
	c.render(w, r, http.StatusOK, "event", e.Type, v, Base+"/catalog")
}

func indent(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// catalogFile serves the AsyncAPI document to the signed-in operator, as
// GET /v1/catalog does to API keys.
func (c *Console) catalogFile(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("format") == "catalog.yaml" {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(c.cfg.Catalog.YAML())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(c.cfg.Catalog.JSON())
}
