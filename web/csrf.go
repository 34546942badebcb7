package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
)

// Where a request carries its CSRF token: the form field of every form the
// layout renders, or a header for the pages' script.
const (
	CSRFField  = "csrf"
	CSRFHeader = "X-CSRF-Token"
)

// csrfOf is the token a request carries.
func csrfOf(r *http.Request) string {
	if t := r.Header.Get(CSRFHeader); t != "" {
		return t
	}
	return r.PostFormValue(CSRFField)
}

// CheckCSRF reports whether r carries this session's token. The token is
// random per session and compared in constant time; with the SameSite=Strict
// cookie it is the second of two locks against a forged form.
func (sess *Session) CheckCSRF(r *http.Request) bool {
	got := csrfOf(r)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// preCookie names the signed-out forms' CSRF cookie.
func (s *Sessions) preCookie() string { return s.cfg.Cookie + "_pre" }

// PreToken is the CSRF token of a form shown before sign-in (the sign-in
// form itself), so that no other site can sign a browser in to an account
// of its choosing. It is a double-submit token: a random cookie, and in the
// form an HMAC of it under a key of this process; nothing is stored until
// someone signs in.
func (s *Sessions) PreToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(s.preCookie()); err == nil && len(c.Value) == 43 {
		v = c.Value
	} else {
		v = randomToken()
		http.SetCookie(w, &http.Cookie{Name: s.preCookie(), Value: v, Path: s.cfg.Path, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(s.cfg.MaxAge.Seconds())})
	}
	return s.preMAC(v)
}

func (s *Sessions) preMAC(v string) string {
	m := hmac.New(sha256.New, s.pre[:])
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckPre reports whether a signed-out form's request carries the token
// PreToken gave its browser.
func (s *Sessions) CheckPre(r *http.Request) bool {
	c, err := r.Cookie(s.preCookie())
	got := csrfOf(r)
	if err != nil || c.Value == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(s.preMAC(c.Value)))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
