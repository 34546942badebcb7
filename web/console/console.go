// Package console is the operator console at /console: the hub's flow per
// tier drawn as live charts with SLO breaches highlighted, the accounts and
// their tier changes, dead letters with redrive, replays with their
// progress, an order's trace across every standard, and the event
// catalogue. An operator signs in with the admin token; the session, CSRF,
// sign-in throttle and layout are the web package's, shared with the
// portal. Every page calls the same code as the HTTP API (flow, trace, ops,
// the accounts registry, the catalogue); nothing here decides anything.
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/flow"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/schemas/catalog"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/trace"
	"github.com/crossdock/crossdock/web"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static/*
var static embed.FS

// Base is where the console lives.
const Base = "/console"

// Config is what the console shows and acts on. Every field but Now and
// Log is required.
type Config struct {
	AdminToken string
	Flow       *flow.Flow
	Catalog    *catalog.Catalog
	Tracer     *trace.Tracer
	Ops        *ops.Ops
	Replays    *ops.Replays
	Registry   *accounts.Registry
	// JS reads the tier changes and webhook state of an account.
	JS  jetstream.JetStream
	Log *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Console serves the pages.
type Console struct {
	cfg      Config
	pages    *web.Pages
	sessions *web.Sessions
	throttle *web.Throttle
	token    [32]byte // SHA-256 of the admin token
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.AdminToken == "" {
		return nil, errors.New("console: no admin token, no console")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	c := &Console{cfg: cfg, token: sha256.Sum256([]byte(cfg.AdminToken))}
	var err error
	c.pages, err = web.NewPages(web.App{Name: "crossdock console", Base: Base}, templates, "templates/*.html", funcs, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.sessions = web.NewSessions(web.SessionConfig{
		Cookie: "xd_console", Path: Base, Idle: 30 * time.Minute, MaxAge: 8 * time.Hour, Now: cfg.Now,
		Valid: func(p web.Principal) bool { return p.Kind == web.KindOperator && c.credentialOK(p.Credential) },
	})
	c.throttle = web.NewThrottle(web.ThrottleConfig{})
	return c, nil
}

// credential is the principal's digest of the admin token.
func (c *Console) credential() string { return "sha256:" + hex.EncodeToString(c.token[:]) }

func (c *Console) credentialOK(cred string) bool {
	return subtle.ConstantTimeCompare([]byte(cred), []byte(c.credential())) == 1
}

// Handler serves everything under /console.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Base+"/assets/", web.Assets(Base+"/assets/"))
	sub, _ := fs.Sub(static, "static")
	mux.Handle("GET "+Base+"/static/", http.StripPrefix(Base+"/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET "+Base+"/signin", c.signinForm)
	mux.HandleFunc("POST "+Base+"/signin", c.signin)

	in := http.NewServeMux()
	in.HandleFunc("POST "+Base+"/signout", c.signout)
	in.HandleFunc("GET "+Base+"/{$}", c.flowPage)
	in.HandleFunc("GET "+Base+"/flow.json", c.flowJSON)
	in.HandleFunc("GET "+Base+"/accounts", c.accountsPage)
	in.HandleFunc("GET "+Base+"/accounts/{id}", c.accountPage)
	in.HandleFunc("POST "+Base+"/accounts/{id}/tier", c.changeTier)
	in.HandleFunc("GET "+Base+"/dlq", c.dlqPage)
	in.HandleFunc("GET "+Base+"/dlq/{seq}", c.deadLetterPage)
	in.HandleFunc("POST "+Base+"/dlq/{seq}/redrive", c.redrive)
	in.HandleFunc("POST "+Base+"/dlq/redrive", c.redriveAll)
	in.HandleFunc("GET "+Base+"/replays", c.replaysPage)
	in.HandleFunc("POST "+Base+"/replays", c.startReplay)
	in.HandleFunc("GET "+Base+"/trace", c.tracePage)
	in.HandleFunc("GET "+Base+"/catalog", c.catalogPage)
	in.HandleFunc("GET "+Base+"/catalog/{name}", c.eventPage)
	in.HandleFunc("GET "+Base+"/{format}", func(w http.ResponseWriter, r *http.Request) {
		if f := r.PathValue("format"); f != "catalog.json" && f != "catalog.yaml" {
			c.render(w, r, http.StatusNotFound, "notfound", "Not found", nil, "")
			return
		}
		c.catalogFile(w, r)
	})
	in.HandleFunc(Base+"/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", nil, "")
	})
	mux.Handle(Base+"/", c.sessions.Require(in, Base+"/signin"))
	mux.Handle(Base, http.RedirectHandler(Base+"/", http.StatusSeeOther))
	return mux
}

// nav is the console's navigation.
var nav = []web.Link{
	{Label: "Flow", Href: Base + "/"},
	{Label: "Accounts", Href: Base + "/accounts"},
	{Label: "Dead letters", Href: Base + "/dlq"},
	{Label: "Replays", Href: Base + "/replays"},
	{Label: "Trace", Href: Base + "/trace"},
	{Label: "Catalogue", Href: Base + "/catalog"},
}

// render writes a signed-in page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, current string) {
	c.pages.Render(w, status, name, web.Page{
		Title: title, Session: web.FromContext(r.Context()), Nav: nav, Current: current,
		Flash: r.URL.Query().Get("done"), Data: data,
	})
}

// back redirects to a page of the console with a one-line notice.
func back(w http.ResponseWriter, r *http.Request, path, notice string) {
	u := Base + path
	if notice != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "done=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

type signinData struct {
	Next   string
	Errors web.Errors
}

func (c *Console) signinForm(w http.ResponseWriter, r *http.Request) {
	c.pages.Render(w, http.StatusOK, "signin", web.Page{
		Title: "Sign in", CSRF: c.sessions.PreToken(w, r), Data: signinData{Next: safeNext(r.URL.Query().Get("next"))},
	})
}

// remoteKey is the throttle key of the request's address.
func remoteKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// signin takes the admin token; nothing else opens the console (a
// customer's API key is refused like a wrong token).
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, code, msg string) {
		c.pages.Render(w, status, "signin", web.Page{
			Title: "Sign in", CSRF: c.sessions.PreToken(w, r),
			Data: signinData{Next: next, Errors: web.Errors{{Code: code, Message: msg, Field: "token"}}},
		})
	}
	if !c.sessions.CheckPre(r) {
		fail(http.StatusForbidden, "csrf", "the form expired; sign in again")
		return
	}
	keys := []string{remoteKey(r), "operator"}
	if wait := c.throttle.Wait(keys...); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		fail(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many failed sign-ins; try again in %s", wait.Round(time.Second)))
		return
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(r.PostFormValue("token"))))
	if subtle.ConstantTimeCompare(got[:], c.token[:]) != 1 {
		c.throttle.Fail(keys...)
		c.cfg.Log.Warn("console sign-in refused", zap.String("remote", remoteKey(r)))
		fail(http.StatusUnauthorized, "unauthorized", "that is not the admin token (the console is for the hub's operators; customers use /portal)")
		return
	}
	c.throttle.Succeed(keys...)
	c.sessions.Start(w, r, web.Principal{Kind: web.KindOperator, Role: web.RoleOperator, Credential: c.credential()})
	c.cfg.Log.Info("console sign-in", zap.String("remote", remoteKey(r)))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) {
	c.sessions.End(w, r)
	http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Base + "/"
	}
	return next
}

// ctx bounds the work of one page.
func ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 20*time.Second)
}

var funcs = template.FuncMap{
	"seconds":  fmtSeconds,
	"rate":     func(v float64) string { return trim(v) },
	"pct":      func(v float64) string { return trim(v*100) + "%" },
	"burn":     func(v float64) string { return fmt.Sprintf("%.1f×", v) },
	"truncate": truncate,
	"ms": func(v float64) string {
		return fmtSeconds(v)
	},
}

// fmtSeconds writes a duration in seconds the way a person reads it.
func fmtSeconds(s float64) string {
	switch {
	case s == 0:
		return "–"
	case s < 0.001:
		return fmt.Sprintf("%.0f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1f ms", s*1e3)
	case s < 120:
		return fmt.Sprintf("%.2f s", s)
	}
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
