package hub

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/schemas/catalog"
)

// consoleRoutes mounts what operators and integration engineers read about
// the hub: the event catalogue (any API key or the admin token).
func (h *Hub) consoleRoutes(mux *http.ServeMux) {
	reader := func(r *http.Request) bool {
		if h.isAdmin(r) {
			return true
		}
		_, ok := h.registry.AuthenticateRequest(r)
		return ok
	}
	api := catalog.Handler(h.catalog, reader)
	mux.Handle("GET /v1/catalog", api)
	mux.Handle("GET /v1/schemas/{type}", api)
}

// newCatalog generates the event catalogue for this deployment.
func (h *Hub) newCatalog(v *schemas.Validator) error {
	cat, err := catalog.New(v, catalog.Info{NATS: h.natsHost(), HTTP: h.cfg.HTTP})
	if err != nil {
		return fmt.Errorf("event catalogue: %w", err)
	}
	h.catalog = cat
	return nil
}

// isAdmin reports whether r carries the admin token (never when there is none).
func (h *Hub) isAdmin(r *http.Request) bool {
	if h.cfg.AdminToken == "" {
		return false
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	got, want := sha256.Sum256([]byte(strings.TrimSpace(token))), sha256.Sum256([]byte(h.cfg.AdminToken))
	return strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// natsHost is the host:port customers reach NATS on, for the catalogue's
// servers ("" when there is no client port).
func (h *Hub) natsHost() string {
	u := h.NATSURL()
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if strings.Contains(u, ":") {
		return u
	}
	return ""
}
