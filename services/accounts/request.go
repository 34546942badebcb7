package accounts

import (
	"net/http"
	"strings"
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
