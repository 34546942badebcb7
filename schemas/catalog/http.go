package catalog

import (
	"net/http"
	"strings"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// Handler serves the catalogue to whoever allow lets in (any customer's API
// key or the admin token):
//
//	GET /v1/catalog          the AsyncAPI document: JSON, or YAML with Accept: application/yaml
//	GET /v1/schemas/{type}   one event type's JSON Schema (type or name: order.placed)
func Handler(c *Catalog, allow func(*http.Request) bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/catalog", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		if wantsYAML(r.Header.Get("Accept")) {
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(c.YAML())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(c.JSON())
	})
	mux.HandleFunc("GET /v1/schemas/{type}", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := c.Schema(strings.TrimSuffix(r.PathValue("type"), ".json"))
		if !ok {
			problem.One(w, http.StatusNotFound, bus.CodeUnknownType, "no event type "+r.PathValue("type")+" (GET /v1/catalog lists them)", "type")
			return
		}
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write(raw)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allow(r) {
			problem.Unauthorized(w, "crossdock", "an API key or the admin token is required (Authorization: Bearer <key>)")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// wantsYAML reports whether an Accept header prefers YAML.
func wantsYAML(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/yaml", "application/x-yaml", "text/yaml":
			return true
		case "application/json":
			return false
		}
	}
	return false
}
