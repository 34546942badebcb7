package accounts

import (
	"net/http"
	"strings"

	"github.com/crossdock/crossdock/problem"
)

// AuthenticateRequest authenticates an HTTP request by its bearer API key
// (Authorization: Bearer <key>).
func (r *Registry) AuthenticateRequest(req *http.Request) (Identity, bool) {
	scheme, key, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return Identity{}, false
	}
	return r.Authenticate(strings.TrimSpace(key))
}

// AccountOnly serves an account's own resources (its orders, scorecard,
// positions, tags, forecasts): serve gets the calling account's entry; a
// request without a key, with an unknown one or with a warehouse's is
// answered 401 instead, as AdminOnly does for the operator's endpoints.
func (r *Registry) AccountOnly(serve func(w http.ResponseWriter, req *http.Request, entry *Entry)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		id, ok := r.AuthenticateRequest(req)
		if !ok || id.Account == "" {
			problem.Unauthorized(w, "crossdock", "an account API key is required (Authorization: Bearer <key>)")
			return
		}
		entry, ok := r.Account(id.Account)
		if !ok { // removed by a reload since the key was looked up
			problem.One(w, http.StatusUnauthorized, problem.CodeUnknownAccount, "account "+id.Account+" is not known", "")
			return
		}
		serve(w, req, entry)
	})
}
