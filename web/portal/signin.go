package portal

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/web"
)

// signInData is the sign-in page's.
type signInData struct {
	Next   string
	Email  string
	Method string // password | key: which form the errors belong to
	Errors web.Errors
}

// signInForm shows the sign-in page, with the pre-session CSRF token.
func (p *Portal) signInForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.sessions.Lookup(r); ok {
		http.Redirect(w, r, Base+"/", http.StatusSeeOther)
		return
	}
	p.pages.Render(w, http.StatusOK, "signin", web.Page{Title: "Sign in", CSRF: p.sessions.PreToken(w, r),
		Data: signInData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a post-sign-in redirect inside the portal.
func safeNext(next string) string {
	if strings.HasPrefix(next, Base+"/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return Base + "/"
}

// remoteKey is the throttle key of the request's address. The hub sees the
// TCP peer: behind a proxy that is the proxy, which the per-user key still
// covers.
func remoteKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// signIn checks an email and password, or an API key. Failures are slowed
// per user and per address (web.Throttle); a throttled attempt is refused
// before any password is verified.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !p.sessions.CheckPre(r) {
		http.Error(w, "forbidden: missing or wrong CSRF token; reload the sign-in page and try again", http.StatusForbidden)
		return
	}
	method := r.PostFormValue("method")
	email := strings.TrimSpace(r.PostFormValue("email"))
	data := signInData{Next: safeNext(r.PostFormValue("next")), Email: email, Method: method}
	keys := []string{remoteKey(r)}
	if method == "password" && email != "" {
		keys = append(keys, "user:"+strings.ToLower(email))
	}
	fail := func(status int, code, message, field string) {
		data.Errors = web.Errors{{Code: code, Message: message, Field: field}}
		p.pages.Render(w, status, "signin", web.Page{Title: "Sign in", CSRF: p.sessions.PreToken(w, r), Data: data})
	}
	if wait := p.throttle.Wait(keys...); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		fail(http.StatusTooManyRequests, bus.CodeRateLimited, fmt.Sprintf("too many failed sign-ins; try again in %d seconds", secs), method)
		return
	}
	var pr web.Principal
	var ok bool
	switch method {
	case "password":
		pr, ok = p.signInUser(email, r.PostFormValue("password"))
	case "key":
		pr, ok = p.signInKey(strings.TrimSpace(r.PostFormValue("key")))
	default:
		fail(http.StatusBadRequest, bus.CodeSchemaViolation, "sign in with an email and password, or with an API key", "")
		return
	}
	if !ok {
		p.throttle.Fail(keys...)
		p.log.Info("portal sign-in failed", zap.String("method", method), zap.String("remote", remoteKey(r)))
		msg := "the email or password is wrong"
		if method == "key" {
			msg = "the API key is not known"
		}
		fail(http.StatusUnauthorized, bus.CodeUnauthorized, msg, method)
		return
	}
	p.throttle.Succeed(keys...)
	p.sessions.Start(w, r, pr)
	p.log.Info("portal sign-in", zap.String("kind", string(pr.Kind)), zap.String("account", pr.Account), zap.String("warehouse", pr.Warehouse))
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

// signInKey signs in with an account's or warehouse's API key, as the
// integration engineers who hold it: it may do what the key may over the API.
func (p *Portal) signInKey(key string) (web.Principal, bool) {
	id, ok := p.cfg.Registry.Authenticate(key)
	if !ok {
		return web.Principal{}, false
	}
	return web.Principal{Kind: web.KindAPIKey, Account: id.Account, Warehouse: id.Warehouse, Role: web.RoleBuyer,
		Credential: accounts.HashKey(key)}, true
}

// signOut ends the session.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	p.sessions.End(w, r)
	http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
}
