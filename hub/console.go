package hub

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/flow"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/schemas/catalog"
	"github.com/crossdock/crossdock/services/accounts"
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
	mux.Handle("GET /v1/admin/flow", h.adminOnly(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, h.flow.Snapshot())
	}))
}

// newFlow builds the flow figures and registers them in /metrics.
func (h *Hub) newFlow(metrics prometheus.Registerer) *flow.Flow {
	h.flow = flow.New(flow.Config{
		Tiers: h.registry.Tiers,
		TierOf: func(account string) (accounts.Tier, bool) {
			e, ok := h.registry.Account(account)
			if !ok {
				return "", false
			}
			return e.Account.Tier, true
		},
	}, h.bus.JetStream(), h.log.Named("flow"))
	metrics.MustRegister(h.flow.Collector())
	return h.flow
}

// adminOnly serves next to the admin token only: 404 when there is none (as
// every /v1/admin/ endpoint), 401 otherwise.
func (h *Hub) adminOnly(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case h.cfg.AdminToken == "":
			problem.One(w, http.StatusNotFound, "not_found", "admin endpoints are disabled (no admin token configured)", "")
		case !h.isAdmin(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="crossdock-admin"`)
			problem.One(w, http.StatusUnauthorized, bus.CodeUnauthorized, "admin endpoints need Authorization: Bearer <admin token>", "")
		default:
			next(w, r)
		}
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
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
