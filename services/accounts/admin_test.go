package accounts

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/problem"
)

const adminToken = "admin-secret-token"

type adminResponse struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, srv *httptest.Server, method, path, auth, body string) adminResponse {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return adminResponse{status: res.StatusCode, header: res.Header, body: string(b)}
}

func TestAdminSetTier(t *testing.T) {
	r, _ := withExample(t)
	srv := httptest.NewServer(AdminHandler(r, adminToken, bustest.Logger(t)))
	t.Cleanup(srv.Close)
	const bearer = "Bearer " + adminToken
	tests := []struct {
		name       string
		auth, path string
		body       string
		wantStatus int
		wantCode   string // problem code, or "" for success
		wantField  string
	}{
		{"a call without a token is unauthorized", "", "/v1/admin/accounts/acme/tier", `{"tier":"integrated"}`, 401, "unauthorized", ""},
		{"a wrong token is unauthorized", "Bearer nope", "/v1/admin/accounts/acme/tier", `{"tier":"integrated"}`, 401, "unauthorized", ""},
		{"the token under another scheme is unauthorized", "Basic " + adminToken, "/v1/admin/accounts/acme/tier", `{"tier":"integrated"}`, 401, "unauthorized", ""},
		{"a customer's API key is unauthorized", "Bearer xd_dev_acme", "/v1/admin/accounts/acme/tier", `{"tier":"integrated"}`, 401, "unauthorized", ""},
		{"an unknown account is not found", bearer, "/v1/admin/accounts/hooli/tier", `{"tier":"integrated"}`, 404, "unknown_account", "id"},
		{"an unknown tier is a schema violation on tier", bearer, "/v1/admin/accounts/acme/tier", `{"tier":"gold"}`, 400, "schema_violation", "tier"},
		{"a missing tier is a schema violation on tier", bearer, "/v1/admin/accounts/acme/tier", `{}`, 400, "schema_violation", "tier"},
		{"a tier that is not a string is a schema violation on tier", bearer, "/v1/admin/accounts/acme/tier", `{"tier":3}`, 400, "schema_violation", "tier"},
		{"an unknown field is a schema violation on that field", bearer, "/v1/admin/accounts/acme/tier", `{"tier":"stable","lane":"priority"}`, 400, "schema_violation", "lane"},
		{"a body that is not an object is a schema violation", bearer, "/v1/admin/accounts/acme/tier", `["stable"]`, 400, "schema_violation", ""},
		{"a body that is not JSON is invalid_json", bearer, "/v1/admin/accounts/acme/tier", `tier=stable`, 400, "invalid_json", ""},
		{"a valid change answers with the move", bearer, "/v1/admin/accounts/acme/tier", `{"tier":"integrated"}`, 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, srv, http.MethodPut, tc.path, tc.auth, tc.body)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d (%s), want %d", res.status, res.body, tc.wantStatus)
			}
			if tc.wantCode == "" {
				return
			}
			if ct := res.header.Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, problem.ContentType)
			}
			var p problem.Details
			if err := json.Unmarshal([]byte(res.body), &p); err != nil {
				t.Fatalf("problem body %q: %v", res.body, err)
			}
			if len(p.Errors) != 1 || p.Errors[0].Code != tc.wantCode || p.Errors[0].Field != tc.wantField || p.Status != tc.wantStatus {
				t.Errorf("problem = %+v, want code %s, field %q", p, tc.wantCode, tc.wantField)
			}
		})
	}

	if got := tierOf(r, "acme"); got != Integrated {
		t.Fatalf("after the admin call acme is %s, want integrated", got)
	}
	res := call(t, srv, http.MethodPut, "/v1/admin/accounts/acme/tier", bearer, `{"tier":"strategic"}`)
	var tc TierChange
	if err := json.Unmarshal([]byte(res.body), &tc); err != nil || res.status != 200 {
		t.Fatalf("PUT tier = %d %s", res.status, res.body)
	}
	if want := (TierChange{Account: "acme", From: Integrated, To: Strategic}); tc != want {
		t.Errorf("PUT tier body = %+v, want %+v", tc, want)
	}
	if !strings.Contains(res.body, `"account":"acme","from":"integrated","to":"strategic"`) {
		t.Errorf("PUT tier body = %s, want the keys account, from, to", res.body)
	}
}

func TestAdminGetAccount(t *testing.T) {
	r, _ := withExample(t)
	// The example has no webhooks; give acme one, so that its secret is
	// there to leak.
	f := exampleFile(t)
	for i := range f.Accounts {
		if f.Accounts[i].ID == "acme" {
			f.Accounts[i].Webhook = &Webhook{URL: "http://127.0.0.1:1/hooks/acme", Secret: "dev-webhook-secret-acme"}
		}
	}
	if _, err := r.Apply(testContext(t), f); err != nil {
		t.Fatalf("Apply(example with a webhook) = %v", err)
	}
	srv := httptest.NewServer(AdminHandler(r, adminToken, bustest.Logger(t)))
	t.Cleanup(srv.Close)

	res := call(t, srv, http.MethodGet, "/v1/admin/accounts/acme", "Bearer "+adminToken, "")
	if res.status != 200 {
		t.Fatalf("GET acme = %d %s", res.status, res.body)
	}
	var got struct {
		ID     string         `json:"id"`
		Tier   Tier           `json:"tier"`
		Policy map[string]any `json:"policy"`
	}
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "acme" || got.Tier != Strategic || got.Policy["lane"] != "priority" || got.Policy["vmi"] != "continuous" {
		t.Errorf("GET acme = %s, want acme, strategic, its effective policy", res.body)
	}
	for _, secret := range []string{"sha256:", "dev-webhook-secret-acme", "secret"} {
		if strings.Contains(res.body, secret) {
			t.Errorf("GET acme shows %q: %s", secret, res.body)
		}
	}

	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"an unknown account is not found", "/v1/admin/accounts/hooli", "Bearer " + adminToken, 404},
		{"reading without the token is unauthorized", "/v1/admin/accounts/acme", "", 401},
		{"an unknown admin path is not found", "/v1/admin/nothing", "Bearer " + adminToken, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if res := call(t, srv, http.MethodGet, tc.path, tc.auth, ""); res.status != tc.want {
				t.Errorf("GET %s = %d, want %d", tc.path, res.status, tc.want)
			}
		})
	}
}

func TestAdminWithoutTokenIsDisabled(t *testing.T) {
	r, _ := withExample(t)
	srv := httptest.NewServer(AdminHandler(r, "", bustest.Logger(t)))
	t.Cleanup(srv.Close)
	tests := []struct {
		name, method, path, auth, body string
	}{
		{"a tier change with no token is not found", http.MethodPut, "/v1/admin/accounts/acme/tier", "", `{"tier":"stable"}`},
		{"a tier change with an empty bearer token is not found", http.MethodPut, "/v1/admin/accounts/acme/tier", "Bearer ", `{"tier":"stable"}`},
		{"reading an account is not found", http.MethodGet, "/v1/admin/accounts/acme", "Bearer x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if res := call(t, srv, tc.method, tc.path, tc.auth, tc.body); res.status != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404", tc.method, tc.path, res.status)
			}
		})
	}
	if got := tierOf(r, "acme"); got != Strategic {
		t.Errorf("acme is %s after calls to disabled admin endpoints, want strategic", got)
	}
}
