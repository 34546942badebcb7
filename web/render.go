package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html assets/*
var files embed.FS

// App names an application built on this package (the portal, the console):
// what the layout shows and where the application lives.
type App struct {
	Name string // shown in the header and the title
	Base string // URL prefix, "/portal": assets at Base+"/assets/", sign-out at Base+"/signout"
}

// Link is one entry of a page's navigation.
type Link struct {
	Label string
	Href  string
}

// Page is what the layout renders: the application's frame around one
// page's content. Data is the page's own.
type Page struct {
	Title   string
	Session *Session // nil when signed out
	// CSRF is the token the page's forms carry; Render fills it from the
	// session when empty.
	CSRF    string
	Nav     []Link
	Current string // the Href of the current Nav entry
	Flash   string // a one-line notice at the top
	Data    any

	App App // filled by Render
}

// FieldError is one problem shown next to a form field, with the same code
// and message as the HTTP API gives.
type FieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Errors are a form's problems.
type Errors []FieldError

// For returns the problems of one field.
func (e Errors) For(field string) Errors {
	var out Errors
	for _, fe := range e {
		if fe.Field == field {
			out = append(out, fe)
		}
	}
	return out
}

// Except returns the problems of no listed field, shown above the form.
func (e Errors) Except(fields ...string) Errors {
	var out Errors
	for _, fe := range e {
		if !contains(fields, fe.Field) {
			out = append(out, fe)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fieldErrors is the argument of the "field-errors" template: the list and
// the field, whose id the input names in aria-describedby and the script
// fills as the user types.
type fieldErrors struct {
	Field string
	List  Errors
}

// Pages renders an application's pages inside the shared layout. Each page
// is a template file defining "content" (and optionally "title"); files
// whose name starts with "_" are partials every page can use.
type Pages struct {
	app   App
	log   *zap.Logger
	pages map[string]*template.Template
}

// assetVersion is a digest of each asset, appended to its URL so that a new
// build is never served from a browser's cache.
var assetVersion = func() map[string]string {
	v := map[string]string{}
	entries, _ := fs.ReadDir(files, "assets")
	for _, e := range entries {
		b, _ := files.ReadFile("assets/" + e.Name())
		sum := sha256.Sum256(b)
		v[e.Name()] = hex.EncodeToString(sum[:4])
	}
	return v
}()

// Funcs are the template functions every page has, besides the caller's.
func (a App) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string {
			return a.Base + "/assets/" + name + "?v=" + assetVersion[name]
		},
		"fieldErrors": func(field string, e Errors) fieldErrors { return fieldErrors{Field: field, List: e.For(field)} },
		"date":        func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"datetime":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"isoTime":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join":        strings.Join,
	}
}

// NewPages parses every page matching pattern in fsys (e.g.
// "templates/*.html") with the layout.
func NewPages(app App, fsys fs.FS, pattern string, funcs template.FuncMap, log *zap.Logger) (*Pages, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("pages %s: %w", pattern, err)
	}
	base := template.New("layout").Funcs(app.funcs()).Funcs(funcs)
	if base, err = base.ParseFS(files, "templates/*.html"); err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	var partials []string
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			partials = append(partials, n)
		}
	}
	if len(partials) > 0 {
		if base, err = base.ParseFS(fsys, partials...); err != nil {
			return nil, fmt.Errorf("partials: %w", err)
		}
	}
	p := &Pages{app: app, log: log, pages: map[string]*template.Template{}}
	for _, n := range names {
		name := path.Base(n)
		if strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", n, err)
		}
		p.pages[strings.TrimSuffix(name, path.Ext(name))] = t
	}
	return p, nil
}

// Render writes page name (its file name without extension) with status.
// It renders into a buffer first, so that a template error is a clean 500,
// never half a page.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, page Page) {
	t, ok := p.pages[name]
	if !ok {
		p.log.Error("no such page", zap.String("page", name))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page.App = p.app
	if page.CSRF == "" && page.Session != nil {
		page.CSRF = page.Session.CSRF
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		p.log.Error("render page", zap.String("page", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	Headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Headers sets the security headers every page gets: scripts and styles
// only from this origin (no inline script, so an injected one does not
// run), no framing, no referrer to other sites, and no caching of pages
// that show an account's data.
func Headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Assets serves the embedded CSS and script under prefix ("/portal/assets/").
func Assets(prefix string) http.Handler {
	sub, _ := fs.Sub(files, "assets")
	fsrv := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		fsrv.ServeHTTP(w, r)
	})
}
