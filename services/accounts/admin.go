package accounts

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// maxAdminBody bounds an admin request body; a tier change is a few bytes.
const maxAdminBody = 64 << 10

// AdminHandler serves the operators' endpoints under /v1/admin/ (CONTRACT.md
// section 5), authenticated with Authorization: Bearer <adminToken>:
//
//	PUT /v1/admin/accounts/{id}/tier   {"tier": "..."} → 200 {"account","from","to"}
//	GET /v1/admin/accounts/{id}        the account and its effective policy
//
// An empty adminToken disables them: every call is answered 404, as if the
// endpoints did not exist. Errors are problem+json with the stable codes.
func AdminHandler(r *Registry, adminToken string, log *zap.Logger) http.Handler {
	a := &admin{reg: r, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/admin/accounts/{id}/tier", a.setTier)
	mux.HandleFunc("GET /v1/admin/accounts/{id}", a.account)
	mux.HandleFunc("/", NoAdminEndpoint)
	return AdminOnly(adminToken, mux)
}

// AdminOnly serves next to requests with Authorization: Bearer <adminToken>
// only, and 401 to the rest. An empty adminToken turns the endpoints off:
// every request is 404, as if they did not exist. Every operator endpoint
// sits behind it, so that they all answer alike.
func AdminOnly(adminToken string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case adminToken == "":
			problem.One(w, http.StatusNotFound, problem.CodeNotFound, "admin endpoints are disabled (no admin token configured)", "")
		case !IsAdmin(req, adminToken):
			problem.Unauthorized(w, "crossdock-admin", "admin endpoints need Authorization: Bearer <admin token>")
		default:
			next.ServeHTTP(w, req)
		}
	})
}

// IsAdmin reports whether req carries adminToken as its bearer token (never
// when adminToken is empty), compared in constant time.
func IsAdmin(req *http.Request, adminToken string) bool {
	scheme, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	return adminToken != "" && strings.EqualFold(scheme, "Bearer") && equalSecret(strings.TrimSpace(token), adminToken)
}

// NoAdminEndpoint answers a path under /v1/admin/ that no handler serves.
func NoAdminEndpoint(w http.ResponseWriter, req *http.Request) {
	problem.One(w, http.StatusNotFound, problem.CodeNotFound, "no admin endpoint "+req.Method+" "+req.URL.Path, "")
}

type admin struct {
	reg *Registry
	log *zap.Logger
}

func (a *admin) setTier(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxAdminBody))
	if err != nil {
		problem.One(w, http.StatusRequestEntityTooLarge, bus.CodeTooLarge, "body: want at most 64 KiB", "")
		return
	}
	if !json.Valid(body) {
		problem.One(w, http.StatusBadRequest, bus.CodeInvalidJSON, `body: not JSON; want {"tier": "..."}`, "")
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, `body: want a JSON object {"tier": "..."}`, "")
		return
	}
	for k := range fields {
		if k != "tier" {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, k+": unknown field; want only tier", k)
			return
		}
	}
	var tier Tier
	raw, ok := fields["tier"]
	if !ok || json.Unmarshal(raw, &tier) != nil || !tier.Valid() {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "tier: want one of "+tierList(), "tier")
		return
	}
	tc, err := a.reg.SetTier(req.Context(), id, tier)
	switch {
	case errors.Is(err, ErrUnknownAccount):
		problem.One(w, http.StatusNotFound, bus.CodeUnknownAccount, "no account "+quote(id), "id")
		return
	case errors.Is(err, ErrInvalidTier):
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, err.Error(), "tier")
		return
	case err != nil && tc.Account == "":
		a.log.Error("admin tier change failed", zap.String("account", id), zap.String("to", string(tier)), zap.Error(err))
		problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed, "tier change failed; retry", "")
		return
	case err != nil:
		// The tier changed; only its announcement failed.
		a.log.Error("admin tier change not announced", zap.String("account", id),
			zap.String("from", string(tc.From)), zap.String("to", string(tc.To)), zap.Error(err))
		problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed,
			"tier changed from "+string(tc.From)+" to "+string(tc.To)+" but the tier.changed event was not published", "")
		return
	}
	writeJSON(w, tc)
}

// accountView is an account as operators see it: no API key digests, no
// webhook secret.
type accountView struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Tier        Tier           `json:"tier"`
	Locations   []Location     `json:"locations"`
	Overrides   map[string]any `json:"overrides,omitempty"`
	Policy      Policy         `json:"policy"`
	WebhookURL  string         `json:"webhook_url,omitempty"`
	APIKeyCount int            `json:"api_key_count"`
	Revision    uint64         `json:"revision"`
	VMI         *VMIAgreement  `json:"vmi,omitempty"`
}

func (a *admin) account(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	e, ok := a.reg.Account(id)
	if !ok {
		problem.One(w, http.StatusNotFound, bus.CodeUnknownAccount, "no account "+quote(id), "id")
		return
	}
	v := accountView{
		ID:          e.Account.ID,
		Name:        e.Account.Name,
		Tier:        e.Account.Tier,
		Locations:   e.Account.Locations,
		Overrides:   e.Account.Overrides,
		Policy:      e.Policy,
		APIKeyCount: len(e.Account.APIKeys),
		Revision:    e.Revision,
		VMI:         e.Account.VMI,
	}
	if e.Account.Webhook != nil {
		v.WebhookURL = e.Account.Webhook.URL
		if u, err := url.Parse(v.WebhookURL); err == nil {
			v.WebhookURL = u.Redacted() // a password in the URL is a secret too
		}
	}
	writeJSON(w, v)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
