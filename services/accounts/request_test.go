package accounts

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAccountOnlyAnswersAnythingButAnAccountsKeyWith401(t *testing.T) {
	r, _ := withExample(t)
	tests := []struct {
		name        string
		auth        string
		wantAccount string // "" when the request is answered 401
	}{
		{"an account's key gives its entry", "Bearer xd_dev_acme", "acme"},
		{"the scheme is read in any case", "bearer xd_dev_globex", "globex"},
		{"a warehouse's key is not an account's", "Bearer xd_dev_dc_east", ""},
		{"an unknown key is refused", "Bearer xd_dev_nobody", ""},
		{"no key is refused", "", ""},
		{"a key without the Bearer scheme is refused", "xd_dev_acme", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := requestWith(tc.auth)
			w := httptest.NewRecorder()
			var served *Entry
			r.AccountOnly(func(w http.ResponseWriter, _ *http.Request, entry *Entry) {
				served = entry
				w.WriteHeader(http.StatusNoContent)
			}).ServeHTTP(w, req)
			if tc.wantAccount != "" {
				if served == nil || served.Account.ID != tc.wantAccount || w.Code != http.StatusNoContent {
					t.Fatalf("AccountOnly for %q served %v and answered %d %s; want %s's entry served", tc.auth, served, w.Code, w.Body, tc.wantAccount)
				}
				return
			}
			if served != nil {
				t.Fatalf("AccountOnly for %q served %s; want a 401", tc.auth, served.Account.ID)
			}
			var body struct {
				Errors []struct {
					Code string `json:"code"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("AccountOnly for %q answered %q: %v", tc.auth, w.Body, err)
			}
			if w.Code != http.StatusUnauthorized || len(body.Errors) != 1 || body.Errors[0].Code != "unauthorized" {
				t.Errorf("AccountOnly for %q answered %d %s, want 401 unauthorized", tc.auth, w.Code, w.Body)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("AccountOnly for %q answered without WWW-Authenticate", tc.auth)
			}
		})
	}
}

func TestAdminOnlyServesTheAdminTokenOnly(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	tests := []struct {
		name, token, auth string
		want              int
	}{
		{"the token is served", "op-token", "Bearer op-token", http.StatusTeapot},
		{"the scheme is read in any case", "op-token", "bearer op-token", http.StatusTeapot},
		{"another token is unauthorized", "op-token", "Bearer op-tokeN", http.StatusUnauthorized},
		{"an account's key is unauthorized", "op-token", "Bearer xd_dev_acme", http.StatusUnauthorized},
		{"the token without a scheme is unauthorized", "op-token", "op-token", http.StatusUnauthorized},
		{"no header is unauthorized", "op-token", "", http.StatusUnauthorized},
		{"with no token configured every call is not found", "", "Bearer ", http.StatusNotFound},
		{"with no token configured no header is not found", "", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := requestWith(tc.auth)
			w := httptest.NewRecorder()
			AdminOnly(tc.token, next).ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Errorf("AdminOnly(%q) for %q = %d %s, want %d", tc.token, tc.auth, w.Code, w.Body, tc.want)
			}
			if got := IsAdmin(req, tc.token); got != (tc.want == http.StatusTeapot) {
				t.Errorf("IsAdmin(%q) for %q = %v, want %v", tc.token, tc.auth, got, !got)
			}
			if tc.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("AdminOnly(%q) for %q answered 401 without WWW-Authenticate", tc.token, tc.auth)
			}
		})
	}
}

// requestWith is a GET with this Authorization header (none when auth is "").
func requestWith(auth string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}
