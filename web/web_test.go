package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

// signIn starts a session for p and returns its cookie.
func signIn(t *testing.T, s *Sessions, p Principal) (*http.Cookie, *Session) {
	t.Helper()
	rec := httptest.NewRecorder()
	sess := s.Start(rec, httptest.NewRequest("POST", "/portal/signin", nil), p)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Start set %d cookies, want 1", len(cookies))
	}
	return cookies[0], sess
}

func TestSessionCookieIsHttpOnlyStrictAndSecureOnlyUnderTLS(t *testing.T) {
	s := NewSessions(SessionConfig{Cookie: "xd", Path: "/portal"})
	for _, tc := range []struct {
		name   string
		tls    bool
		secure bool
	}{
		{"a plain HTTP request gets a cookie without Secure", false, false},
		{"a TLS request gets a Secure cookie", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/portal/signin", nil)
			if tc.tls {
				r = httptest.NewRequest("POST", "https://hub.example/portal/signin", nil)
			}
			rec := httptest.NewRecorder()
			s.Start(rec, r, Principal{Kind: KindUser, Account: "acme", Email: "a@acme.example", Role: RoleBuyer})
			c := rec.Result().Cookies()[0]
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tc.secure || c.Path != "/portal" {
				t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Secure=%v, Path=/portal", c, tc.secure)
			}
			if len(c.Value) != 43 {
				t.Errorf("session id has %d characters, want 43 (256 bits, base64url)", len(c.Value))
			}
		})
	}
}

func TestSessionsEnd(t *testing.T) {
	buyer := Principal{Kind: KindUser, Account: "acme", Email: "b@acme.example", Role: RoleBuyer}
	for _, tc := range []struct {
		name  string
		after func(c *clock, s *Sessions, valid *bool, cookie *http.Cookie)
		live  bool
	}{
		{"a fresh session is found", func(*clock, *Sessions, *bool, *http.Cookie) {}, true},
		{"a session idle too long ends", func(c *clock, _ *Sessions, _ *bool, _ *http.Cookie) { c.Add(31 * time.Minute) }, false},
		{"a busy session ends at its maximum age", func(c *clock, s *Sessions, _ *bool, cookie *http.Cookie) {
			for range 30 {
				c.Add(25 * time.Minute)
				r := httptest.NewRequest("GET", "/", nil)
				r.AddCookie(cookie)
				s.Lookup(r)
			}
		}, false},
		{"a session ends when its principal is no longer valid", func(_ *clock, _ *Sessions, valid *bool, _ *http.Cookie) { *valid = false }, false},
		{"EndWhere ends every session of a user", func(_ *clock, s *Sessions, _ *bool, _ *http.Cookie) {
			if n := s.EndWhere(func(p Principal) bool { return p.Email == "b@acme.example" }); n != 1 {
				t.Errorf("EndWhere ended %d sessions, want 1", n)
			}
		}, false},
		{"signing out ends the session", func(_ *clock, s *Sessions, _ *bool, cookie *http.Cookie) {
			r := httptest.NewRequest("POST", "/signout", nil)
			r.AddCookie(cookie)
			s.End(httptest.NewRecorder(), r)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			valid := true
			s := NewSessions(SessionConfig{Cookie: "xd", Now: c.Now, Valid: func(Principal) bool { return valid }})
			cookie, _ := signIn(t, s, buyer)
			tc.after(c, s, &valid, cookie)
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookie)
			if _, ok := s.Lookup(r); ok != tc.live {
				t.Errorf("Lookup found the session: %v, want %v", ok, tc.live)
			}
		})
	}
}

func TestSessionsAreBounded(t *testing.T) {
	c := newClock()
	s := NewSessions(SessionConfig{Cookie: "xd", Max: 3, Now: c.Now})
	first, _ := signIn(t, s, Principal{Email: "first@x.example"})
	for range 5 {
		c.Add(time.Second)
		signIn(t, s, Principal{Email: "other@x.example"})
	}
	if s.Len() != 3 {
		t.Errorf("the store holds %d sessions, want at most 3", s.Len())
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(first)
	if _, ok := s.Lookup(r); ok {
		t.Errorf("the least recently used session survived a full store")
	}
}

func TestSignInReplacesTheSession(t *testing.T) {
	s := NewSessions(SessionConfig{Cookie: "xd"})
	old, _ := signIn(t, s, Principal{Email: "a@x.example"})
	r := httptest.NewRequest("POST", "/signin", nil)
	r.AddCookie(old)
	s.Start(httptest.NewRecorder(), r, Principal{Email: "a@x.example"})
	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(old)
	if _, ok := s.Lookup(r); ok {
		t.Errorf("the session id from before sign-in still works (session fixation)")
	}
}

func TestRequireChecksCSRFOnEveryStateChange(t *testing.T) {
	s := NewSessions(SessionConfig{Cookie: "xd"})
	cookie, sess := signIn(t, s, Principal{Account: "acme", Role: RoleBuyer})
	h := s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if FromContext(r.Context()) == nil {
			t.Errorf("the handler got no session")
		}
		w.WriteHeader(http.StatusNoContent)
	}), "/signin")
	for _, tc := range []struct {
		name   string
		method string
		form   url.Values
		header string
		cookie bool
		want   int
	}{
		{"a GET needs no token", "GET", nil, "", true, http.StatusNoContent},
		{"a POST with the form token passes", "POST", url.Values{CSRFField: {sess.CSRF}}, "", true, http.StatusNoContent},
		{"a POST with the header token passes", "POST", nil, sess.CSRF, true, http.StatusNoContent},
		{"a POST without a token is forbidden", "POST", url.Values{"x": {"1"}}, "", true, http.StatusForbidden},
		{"a POST with a forged token is forbidden", "POST", url.Values{CSRFField: {"forged"}}, "", true, http.StatusForbidden},
		{"a DELETE without a token is forbidden", "DELETE", nil, "", true, http.StatusForbidden},
		{"a GET without a session goes to sign in", "GET", nil, "", false, http.StatusSeeOther},
		{"a POST without a session is unauthorized", "POST", url.Values{CSRFField: {sess.CSRF}}, "", false, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/portal/orders", strings.NewReader(tc.form.Encode()))
			if tc.form != nil {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.header != "" {
				r.Header.Set(CSRFHeader, tc.header)
			}
			if tc.cookie {
				r.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want {
				t.Errorf("%s = %d, want %d", tc.method, rec.Code, tc.want)
			}
		})
	}
}

func TestPreSignInToken(t *testing.T) {
	s := NewSessions(SessionConfig{Cookie: "xd"})
	rec := httptest.NewRecorder()
	token := s.PreToken(rec, httptest.NewRequest("GET", "/signin", nil))
	cookie := rec.Result().Cookies()[0]
	other := NewSessions(SessionConfig{Cookie: "xd"})
	for _, tc := range []struct {
		name   string
		s      *Sessions
		token  string
		cookie bool
		want   bool
	}{
		{"the token with its cookie passes", s, token, true, true},
		{"the token without its cookie fails", s, token, false, false},
		{"a made-up token fails", s, "made-up", true, false},
		{"another process's key refuses the token", other, token, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/signin", strings.NewReader(url.Values{CSRFField: {tc.token}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.cookie {
				r.AddCookie(cookie)
			}
			if got := tc.s.CheckPre(r); got != tc.want {
				t.Errorf("CheckPre = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	c := newClock()
	th := NewThrottle(ThrottleConfig{Now: c.Now, Free: 2, Base: time.Second, Ceiling: time.Minute})
	steps := []struct {
		name string
		do   func()
		key  string
		want time.Duration
	}{
		{"a key never seen waits nothing", func() {}, "u", 0},
		{"two failures are free", func() { th.Fail("u"); th.Fail("u") }, "u", 0},
		{"the third failure costs a second", func() { th.Fail("u") }, "u", time.Second},
		{"the fourth costs two", func() { c.Add(time.Second); th.Fail("u") }, "u", 2 * time.Second},
		{"the wait counts down with the clock", func() { c.Add(time.Second) }, "u", time.Second},
		{"the wait never passes the ceiling", func() {
			for range 20 {
				th.Fail("u")
			}
		}, "u", time.Minute},
		{"another key is not slowed", func() {}, "v", 0},
		{"a success clears the key", func() { th.Succeed("u") }, "u", 0},
	}
	for _, st := range steps {
		st.do()
		if got := th.Wait(st.key); got != st.want {
			t.Errorf("%s: Wait(%s) = %v, want %v", st.name, st.key, got, st.want)
		}
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	c := newClock()
	th := NewThrottle(ThrottleConfig{Now: c.Now, Max: 100, Free: 1})
	for range 5 {
		th.Fail("addr:attacker")
	}
	for i := range 1000 {
		c.Add(time.Millisecond)
		th.Fail("user:" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
		th.Fail("addr:attacker")
	}
	if th.Len() > 100 {
		t.Errorf("the throttle remembers %d keys, want at most 100", th.Len())
	}
	if th.Wait("addr:attacker") == 0 {
		t.Errorf("the address failing on every try was forgotten")
	}
}
