package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/delivery"
	"github.com/crossdock/crossdock/services/edi"
	"github.com/crossdock/crossdock/services/gateway"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/lanes"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/services/planning"
	"github.com/crossdock/crossdock/services/rfid"
	"github.com/crossdock/crossdock/services/router"
	"github.com/crossdock/crossdock/services/vmi"
	"github.com/crossdock/crossdock/web/portal"
)

// service is one entry of --services: the hub builds, runs and serves the
// selected ones from this table, and the flag's help and Validate are made
// from it, so a service is added here and nowhere else.
type service struct {
	name string
	// does says what the service does, for the flag's help (Usage).
	does string
	// consumes names the streams and durable consumers it reads
	// (docs/operations.md lists the same).
	consumes string
	// reads is set for a service whose read API (HTTP) is also served
	// wherever the gateway runs, since customers call the hub there: it is
	// then built, without its consumers, in a gateway-only process.
	reads bool
	// build makes the service on h (the fields routes serves) and returns
	// what runs while the hub is up.
	build func(h *Hub, p parts) ([]func(context.Context) error, error)
	// mount adds its HTTP routes when it was built here (its field on h is
	// set); nil for a service without an API of its own.
	mount func(h *Hub, mux *http.ServeMux) error
	// local, when set, is the handler the router hands the service's
	// checked events to when both run in this process (fused lanes,
	// router.Config.Local), instead of storing them in XD_ROUTED for the
	// service's own consumers, which still run for events routed by a
	// router elsewhere.
	local func(h *Hub) bus.Handler
}

// parts are what services share, made once by Start.
type parts struct {
	ctx       context.Context // bounds the builds' requests to JetStream (setupTimeout)
	validator *schemas.Validator
	check     *intake.Checker
	door      *gateway.Door
	governor  *lanes.Governor
	metrics   *prometheus.Registry
	// local is router.Config.Local: the handlers of the services built to
	// run here, filled by buildServices before anything runs.
	local map[string]bus.Handler
}

// services is the table, in the order of the flag's help.
var services = []service{
	{
		name:     "gateway",
		does:     "the HTTP API (events in, reads, admin) and customers' NATS intake; partners' files (ingest) and the EDI answers of accounts that ask for them (edi)",
		consumes: "XD_RAW (ingest), XD_OUT (edi); NATS xd.in.> requests (intake relay)",
		build: func(h *Hub, p parts) ([]func(context.Context) error, error) {
			formats := h.cfg.Adapters
			if formats == nil {
				formats = adapters.Default
			}
			h.gateway = gateway.New(h.bus, h.registry, p.check, p.door, p.governor, h.log.Named("gateway"))
			h.ingest = gateway.NewIngest(h.bus, h.registry, p.check, p.door, formats, h.log.Named("ingest"))
			var err error
			if h.relayNC, err = h.dial("crossdock-intake"); err != nil {
				return nil, err
			}
			relay := gateway.NewRelay(h.relayNC, h.bus, p.door, h.log.Named("intake"))
			if err := relay.Listen(); err != nil {
				return nil, err
			}
			return []func(context.Context) error{relay.Run, h.ingest.Run, edi.New(h.bus, h.registry, formats, h.log.Named("edi")).Run}, nil
		},
		mount: func(h *Hub, mux *http.ServeMux) error {
			if h.gateway == nil {
				return nil
			}
			mux.Handle("/v1/events", h.gateway.Handler())
			mux.Handle("/v1/ingest/", h.ingest.Handler())
			mux.Handle("GET /v1/adapters", h.ingest.Handler())
			pages, err := portal.New(portal.Config{
				Registry: h.registry, Gateway: h.gateway, Ingest: h.ingest, Orders: h.orders, VMI: h.vmi, RFID: h.rfid,
				Scorecard: h.scorecard, NATS: h.nc, Log: h.log.Named("portal"),
			})
			if err != nil {
				return err
			}
			mux.Handle(portal.Base+"/", pages.Handler())
			mux.Handle("GET "+portal.Base, http.RedirectHandler(portal.Base+"/", http.StatusMovedPermanently))
			return nil
		},
	},
	{
		name:     "router",
		does:     "checks events and routes them into their accounts' tier lanes",
		consumes: "XD_IN: router-<lane> for each lane; router holds the sweep's position and is delivered nothing (the sweep reads only what no lane covers)",
		build: func(h *Hub, p parts) ([]func(context.Context) error, error) {
			return runs(router.New(router.Config{Governor: p.governor, Local: p.local}, h.bus, h.registry, p.check, h.log.Named("router")).Run), nil
		},
	},
	{
		name:     "orders",
		does:     "accepts, holds or rejects orders, asks warehouses to fulfil them and follows their shipments; order reads and the scorecard",
		consumes: "XD_ROUTED: orders-<lane>",
		reads:    true,
		build: func(h *Hub, p parts) (_ []func(context.Context) error, err error) {
			h.orders, err = orders.New(p.ctx, orders.Config{Governor: p.governor, Schemas: p.validator, Tags: h.tagReads}, h.bus, h.registry, h.log.Named("orders"))
			return runs(h.orders.Run), err
		},
		local: func(h *Hub) bus.Handler { return h.orders.Handle },
		mount: func(h *Hub, mux *http.ServeMux) error {
			if h.orders == nil {
				return nil
			}
			mux.Handle("/v1/orders/", h.orders.Handler())
			mux.Handle("GET /v1/orders", h.orders.Handler())
			mux.Handle("GET /v1/scorecard", h.scorecard.Handler())
			return nil
		},
	},
	{
		name:     "vmi",
		does:     "vendor-managed inventory: inventory reports in, replenishments out on each account's schedule",
		consumes: "XD_ROUTED: vmi-<lane>",
		build: func(h *Hub, p parts) (_ []func(context.Context) error, err error) {
			h.vmi, err = vmi.New(p.ctx, vmi.Config{Governor: p.governor, Now: h.cfg.Now}, h.bus, h.registry, h.log.Named("vmi"))
			return runs(h.vmi.Run), err
		},
		mount: func(h *Hub, mux *http.ServeMux) error {
			if h.vmi != nil {
				mux.Handle("/v1/inventory/", h.vmi.Handler())
				mux.Handle("/v1/admin/vmi/", h.vmi.AdminHandler(h.cfg.AdminToken))
			}
			return nil
		},
	},
	{
		name:     "rfid",
		does:     "RFID reads in; EPCIS events and tag location changes out; EPC reads",
		consumes: "XD_ROUTED: rfid-<lane>",
		reads:    true,
		build: func(h *Hub, p parts) (_ []func(context.Context) error, err error) {
			h.rfid, err = rfid.New(p.ctx, rfid.Config{Governor: p.governor, Metrics: p.metrics}, h.bus, h.registry, h.log.Named("rfid"))
			return runs(h.rfid.Run), err
		},
		local: func(h *Hub) bus.Handler { return h.rfid.Handle },
		mount: func(h *Hub, mux *http.ServeMux) error {
			if h.rfid != nil {
				mux.Handle("/v1/rfid/", h.rfid.Handler())
			}
			return nil
		},
	},
	{
		name:     "delivery",
		does:     "webhooks and batched digests of the accounts' and warehouses' events",
		consumes: "XD_OUT: one consumer per webhook endpoint",
		build: func(h *Hub, p parts) (_ []func(context.Context) error, err error) {
			h.delivery, err = delivery.New(p.ctx, delivery.Config{
				Retry:   delivery.Retry{Attempts: h.cfg.WebhookAttempts, MaxAge: h.cfg.WebhookMaxAge},
				Metrics: p.metrics,
			}, h.bus, h.registry, h.log.Named("delivery"))
			return runs(h.delivery.Run), err
		},
	},
	{
		name:     "planning",
		does:     "shared planning: customers' forecasts to their warehouses, forecast exceptions and accuracy",
		consumes: "XD_ROUTED: planning-<lane>",
		reads:    true,
		build: func(h *Hub, p parts) (_ []func(context.Context) error, err error) {
			h.planning, err = planning.New(p.ctx, planning.Config{Governor: p.governor, Now: h.cfg.Now}, h.bus, h.registry, h.log.Named("planning"))
			return runs(h.planning.Run), err
		},
		mount: func(h *Hub, mux *http.ServeMux) error {
			if h.planning != nil {
				mux.Handle("/v1/planning/", h.planning.Handler())
			}
			return nil
		},
	},
}

func runs(r ...func(context.Context) error) []func(context.Context) error { return r }

// buildServices builds the services the config selects (and the read side of
// those the gateway serves) and returns what runs.
func (h *Hub) buildServices(p parts) ([]func(context.Context) error, error) {
	var out []func(context.Context) error
	for _, s := range services {
		here := h.cfg.runs(s.name)
		if !here && !(s.reads && h.cfg.runs("gateway")) {
			continue
		}
		r, err := s.build(h, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if here {
			out = append(out, r...)
			if s.local != nil && p.local != nil {
				p.local[s.name] = s.local(h)
			}
		}
	}
	return out, nil
}

// mountServices adds the HTTP routes of the services built here.
func (h *Hub) mountServices(mux *http.ServeMux) error {
	for _, s := range services {
		if s.mount == nil {
			continue
		}
		if err := s.mount(h, mux); err != nil {
			return fmt.Errorf("%s routes: %w", s.name, err)
		}
	}
	return nil
}

// serviceNames are the names --services takes besides "all".
func serviceNames() []string {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.name
	}
	return names
}

// Services returns the services a process can run (--services): deployments
// (docker-compose.yml) run each of them.
func Services() []string { return serviceNames() }

// ServicesUsage is the help of --services: every service and what it does.
func ServicesUsage() string {
	var b strings.Builder
	b.WriteString("comma list of services to run here, or all:")
	for _, s := range services {
		fmt.Fprintf(&b, "\n  %s: %s", s.name, s.does)
	}
	return b.String()
}
