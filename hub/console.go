package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/flow"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/schemas/catalog"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/trace"
	"github.com/crossdock/crossdock/web/console"
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
	mux.Handle("GET /v1/admin/trace", h.adminOnly(h.trace))
	replays := h.adminOnly(h.replays.Handler().ServeHTTP)
	mux.Handle("/v1/admin/replays", replays)
	mux.Handle("/v1/admin/replays/", replays)
	if h.cfg.AdminToken == "" {
		return // no admin token, no console: /console is not found
	}
	con, err := console.New(console.Config{
		AdminToken: h.cfg.AdminToken, Flow: h.flow, Catalog: h.catalog, Tracer: h.Tracer(),
		Ops: ops.New(h.bus.JetStream(), nil), Replays: h.replays, Registry: h.registry,
		JS: h.bus.JetStream(), Log: h.log.Named("console"),
	})
	if err != nil {
		h.log.Error("console", zap.Error(err)) // its templates are embedded: a test catches this
		return
	}
	pages := con.Handler()
	mux.Handle(console.Base, pages)
	mux.Handle(console.Base+"/", pages)
}

// trace serves GET /v1/admin/trace?po=|id=|epc=|isa=|gs=|st=[&account=][&within=].
func (h *Hub) trace(w http.ResponseWriter, r *http.Request) {
	q, err := TraceQuery(r.URL.Query())
	if err != nil {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, err.Error(), "")
		return
	}
	res, err := h.Tracer().Trace(r.Context(), q)
	switch {
	case errors.Is(err, trace.ErrNotFound):
		problem.One(w, http.StatusNotFound, problem.CodeNotFound, err.Error(), "")
	case err != nil:
		h.log.Error("trace", zap.Error(err))
		problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed, "trace failed: "+err.Error(), "")
	default:
		writeJSON(w, res)
	}
}

// TraceQuery reads a trace query from URL parameters.
func TraceQuery(v url.Values) (trace.Query, error) {
	q := trace.Query{PO: v.Get("po"), ID: v.Get("id"), EPC: v.Get("epc"), ISA: v.Get("isa"), GS: v.Get("gs"), ST: v.Get("st"), Account: v.Get("account")}
	if w := v.Get("within"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 || d > 90*24*time.Hour {
			return q, fmt.Errorf("within %q: want a duration up to 2160h", w)
		}
		q.Within = d
	}
	return q, q.Valid()
}

// Tracer returns a tracer over the hub's streams.
func (h *Hub) Tracer() *trace.Tracer {
	return trace.New(h.bus.JetStream(), registryWebhooks{h.registry}, nil)
}

// registryWebhooks answers the tracer from the live registry.
type registryWebhooks struct{ r *accounts.Registry }

func (w registryWebhooks) Webhook(account, warehouse string) (has, batched bool) {
	if warehouse != "" {
		wh, ok := w.r.Warehouse(warehouse)
		return ok && wh.Webhook != nil, false
	}
	e, ok := w.r.Account(account)
	if !ok || e.Account.Webhook == nil {
		return false, false
	}
	return true, e.Policy.Delivery == "batched"
}

func (w registryWebhooks) Accounts() []string {
	return w.r.Select(func(*accounts.Entry) bool { return true })
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
		Poll: h.cfg.FlowPoll,
	}, h.bus.JetStream(), h.log.Named("flow"))
	metrics.MustRegister(h.flow.Collector())
	return h.flow
}

// adminOnly serves next to the admin token only, as every /v1/admin/
// endpoint.
func (h *Hub) adminOnly(next http.HandlerFunc) http.Handler {
	return accounts.AdminOnly(h.cfg.AdminToken, next)
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
func (h *Hub) isAdmin(r *http.Request) bool { return accounts.IsAdmin(r, h.cfg.AdminToken) }

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
