// Package portal is the customer and warehouse portal at /portal: people
// without an integration team order, upload flat files, track their orders
// live, see their inventory, tags and scorecard; warehouses without a
// system of their own see their open fulfilment requests and report
// shipments. Every page acts as its session's account or warehouse through
// the same service code as the HTTP API (gateway, ingest, orders, vmi,
// rfid), so a session sees and does exactly what that account's API key
// could, and nothing in the portal decides an order or checks an event on
// its own.
package portal

import (
	"embed"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/gateway"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/services/rfid"
	"github.com/crossdock/crossdock/services/scorecard"
	"github.com/crossdock/crossdock/services/vmi"
	"github.com/crossdock/crossdock/web"
)

//go:embed templates/*.html
var templates embed.FS

// Base is where the hub mounts the portal.
const Base = "/portal"

// Config is what the portal works with: the hub's registry and services.
// A nil service hides its pages (a process that does not run it).
type Config struct {
	Registry *accounts.Registry
	Gateway  *gateway.Gateway // places orders and reports shipments (POST /v1/events)
	Ingest   *gateway.Ingest  // flat files (POST /v1/ingest/{format}); nil: no uploads
	Orders   *orders.Service  // tracking (GET /v1/orders/{po})
	VMI      *vmi.Service     // inventory positions; nil: no inventory
	RFID     *rfid.Service    // EPC lookups; nil: no tags
	// Scorecard computes the accounts' scorecards (GET /v1/scorecard); nil:
	// no scorecard page.
	Scorecard *scorecard.Scorecard
	// NATS is the hub's connection: each live page subscribes to its own
	// account's xd.out.<account>.> (a warehouse's xd.wh.<warehouse>.>).
	NATS *nats.Conn
	// Now is the clock of the order check and the pages' dates; nil means
	// time.Now.
	Now func() time.Time
	// Sessions and Throttle tune sign-in; zero values take web's defaults.
	Sessions web.SessionConfig
	Throttle web.ThrottleConfig
	Log      *zap.Logger
}

// Portal serves /portal.
type Portal struct {
	cfg      Config
	pages    *web.Pages
	sessions *web.Sessions
	throttle *web.Throttle
	log      *zap.Logger
}

// New builds the portal.
func New(cfg Config) (*Portal, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	p := &Portal{cfg: cfg, log: cfg.Log}
	sc := cfg.Sessions
	sc.Cookie, sc.Path, sc.Valid = "crossdock_portal", Base, p.valid
	if sc.Now == nil {
		sc.Now = cfg.Now
	}
	p.sessions = web.NewSessions(sc)
	tc := cfg.Throttle
	if tc.Now == nil {
		tc.Now = cfg.Now
	}
	p.throttle = web.NewThrottle(tc)
	pages, err := web.NewPages(web.App{Name: "crossdock portal", Base: Base}, templates, "templates/*.html", template.FuncMap{
		"units":       formatUnits,
		"rowErrors":   rowErrors,
		"percent":     percent,
		"hours":       hours,
		"barWidth":    barWidth,
		"windowLabel": func(key string) string { return strings.ReplaceAll(key, "_", " ") },
	}, cfg.Log)
	if err != nil {
		return nil, err
	}
	p.pages = pages
	return p, nil
}

// Sessions is the portal's session store, for ending sessions from outside
// (tests, an operator).
func (p *Portal) Sessions() *web.Sessions { return p.sessions }

// Handler serves everything under /portal.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	in := func(h http.HandlerFunc) http.Handler { return p.sessions.Require(h, Base+"/signin") }
	mux.Handle("GET "+Base+"/assets/", web.Assets(Base+"/assets/"))
	mux.HandleFunc("GET "+Base+"/signin", p.signInForm)
	mux.HandleFunc("POST "+Base+"/signin", p.signIn)
	mux.Handle("POST "+Base+"/signout", in(p.signOut))
	mux.Handle("GET "+Base+"/{$}", in(p.home))
	mux.Handle("GET "+Base+"/events", in(p.events))

	mux.Handle("GET "+Base+"/orders", in(p.account(p.orderList)))
	mux.Handle("GET "+Base+"/orders/{po}", in(p.account(p.orderPage)))
	mux.Handle("GET "+Base+"/place", in(p.account(p.buyer(p.placeForm))))
	mux.Handle("POST "+Base+"/place", in(p.account(p.buyer(p.place))))
	mux.Handle("POST "+Base+"/place/check", in(p.account(p.buyer(p.check))))
	mux.Handle("GET "+Base+"/upload", in(p.buyer(p.uploadForm)))
	mux.Handle("POST "+Base+"/upload", in(p.buyer(p.upload)))
	mux.Handle("GET "+Base+"/upload/template.csv", in(p.account(p.uploadTemplate)))
	mux.Handle("GET "+Base+"/inventory", in(p.account(p.inventory)))
	if p.cfg.Scorecard != nil {
		mux.Handle("GET "+Base+"/scorecard", in(p.account(p.scorecardPage)))
		mux.Handle("GET "+Base+"/scorecard.csv", in(p.account(p.scorecardCSV)))
	}
	mux.Handle("GET "+Base+"/work", in(p.warehouse(p.work)))
	mux.Handle("POST "+Base+"/work/ship", in(p.warehouse(p.buyer(p.ship))))
	return mux
}

// valid reports whether a session's principal still exists as it signed
// in: asked on every request, so a key or user removed from the accounts
// file (and reloaded) ends its sessions at their next request.
func (p *Portal) valid(pr web.Principal) bool {
	switch pr.Kind {
	case web.KindAPIKey:
		if pr.Warehouse != "" {
			w, ok := p.cfg.Registry.Warehouse(pr.Warehouse)
			return ok && slices.Contains(w.APIKeys, pr.Credential)
		}
		e, ok := p.cfg.Registry.Account(pr.Account)
		return ok && slices.Contains(e.Account.APIKeys, pr.Credential)
	case web.KindUser:
		return p.validUser(pr)
	}
	return false
}

// nav is the navigation of a principal's pages.
func (p *Portal) nav(pr web.Principal) []web.Link {
	if pr.Warehouse != "" {
		return []web.Link{{Label: "Open requests", Href: Base + "/work"}, {Label: "Upload a file", Href: Base + "/upload"}}
	}
	links := []web.Link{{Label: "Orders", Href: Base + "/orders"}}
	if pr.Is(web.RoleBuyer) {
		links = append(links, web.Link{Label: "Place an order", Href: Base + "/place"}, web.Link{Label: "Upload a file", Href: Base + "/upload"})
	}
	if e, ok := p.cfg.Registry.Account(pr.Account); ok && ((p.cfg.VMI != nil && e.Policy.VMI != "off") || (p.cfg.RFID != nil && e.Policy.RFID == "on")) {
		links = append(links, web.Link{Label: "Inventory and tags", Href: Base + "/inventory"})
	}
	if p.cfg.Scorecard != nil {
		links = append(links, web.Link{Label: "Scorecard", Href: Base + "/scorecard"})
	}
	return links
}

// render renders a page for the request's session.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, name, title, current string, data any) {
	sess := web.FromContext(r.Context())
	page := web.Page{Title: title, Session: sess, Current: current, Data: data}
	if sess != nil {
		page.Nav = p.nav(sess.Principal)
	}
	p.pages.Render(w, status, name, page)
}

// refuse renders a page saying why the principal may not do this.
func (p *Portal) refuse(w http.ResponseWriter, r *http.Request, status int, message string) {
	p.render(w, r, status, "refused", http.StatusText(status), "", message)
}

// account lets only an account's principals through.
func (p *Portal) account(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if web.FromContext(r.Context()).Principal.Account == "" {
			p.refuse(w, r, http.StatusForbidden, "This page is for accounts; a warehouse sees its open requests.")
			return
		}
		h(w, r)
	}
}

// warehouse lets only a warehouse's principals through.
func (p *Portal) warehouse(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if web.FromContext(r.Context()).Principal.Warehouse == "" {
			p.refuse(w, r, http.StatusForbidden, "This page is for warehouses.")
			return
		}
		h(w, r)
	}
}

// buyer lets only principals who may act (buyers, API keys) through:
// viewers track only.
func (p *Portal) buyer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !web.FromContext(r.Context()).Principal.Is(web.RoleBuyer) {
			p.refuse(w, r, http.StatusForbidden, "Your role is viewer: you can track orders but not place them or send files. Ask your account's administrator for the buyer role.")
			return
		}
		h(w, r)
	}
}

// home sends a principal to its first page.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, p.nav(web.FromContext(r.Context()).Principal)[0].Href, http.StatusSeeOther)
}

// sender is the bus identity a principal acts as, the same an API key gives.
func sender(pr web.Principal) bus.Sender {
	return bus.Sender{Account: pr.Account, Warehouse: pr.Warehouse}
}

// source is the CloudEvents source of what the portal sends for a
// principal: below the sender's own (CONTRACT.md section 2), so the
// gateway accepts it and the timeline can tell the channel.
func source(pr web.Principal) string {
	if pr.Warehouse != "" {
		return "/warehouses/" + pr.Warehouse + "/portal"
	}
	return "/accounts/" + pr.Account + "/portal"
}
