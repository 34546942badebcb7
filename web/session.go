package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// SessionConfig configures a session store. The zero value of every field
// but Cookie has a documented default.
type SessionConfig struct {
	// Cookie is the session cookie's name, different per application so
	// that the portal's and the console's sessions never mix.
	Cookie string
	// Path is the cookie's path ("/portal"); empty means "/".
	Path string
	// Idle ends a session not used for this long; zero means 30 minutes.
	Idle time.Duration
	// MaxAge ends a session this long after sign-in however busy; zero
	// means 12 hours.
	MaxAge time.Duration
	// Max is how many sessions the store holds; when full, the one used
	// least recently ends to make room. Zero means 10,000.
	Max int
	// Valid, when set, is asked on every request whether the principal
	// still exists (its user or key is still in the accounts file); false
	// ends the session. This is how a user removed from the file on reload
	// loses its sessions in every process at once.
	Valid func(Principal) bool
	// MaxBody limits the body of a state-changing request, read before the
	// handler to find the CSRF token; zero means 10 MiB.
	MaxBody int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Session is one signed-in browser.
type Session struct {
	Principal Principal
	// CSRF is the token every state-changing request of this session must
	// carry (form field CSRFField or header CSRFHeader).
	CSRF    string
	Created time.Time

	key  [32]byte // SHA-256 of the id: the map holds no usable id
	seen time.Time
}

// Sessions is a server-side session store: the cookie holds a random
// 256-bit id and nothing else, so a session ends for sure when it is ended
// here (sign out, expiry, the principal removed). It lives in the process's
// memory: a restart signs everyone out, and behind a load balancer a
// browser must stick to one process.
type Sessions struct {
	cfg SessionConfig
	pre [32]byte // key of the signed-out forms' CSRF tokens

	mu   sync.Mutex
	byID map[[32]byte]*Session
}

// NewSessions returns an empty store.
func NewSessions(cfg SessionConfig) *Sessions {
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.Max <= 0 {
		cfg.Max = 10_000
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 10 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sessions{cfg: cfg, byID: map[[32]byte]*Session{}}
	_, _ = rand.Read(s.pre[:])
	return s
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start signs p in: it ends the request's current session, if any (a new
// id at every sign-in, against session fixation), makes a new one and sets
// its cookie.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, p Principal) *Session {
	now := s.cfg.Now()
	id := randomToken()
	sess := &Session{Principal: p, CSRF: randomToken(), Created: now, key: sha256.Sum256([]byte(id)), seen: now}
	s.mu.Lock()
	if c, err := r.Cookie(s.cfg.Cookie); err == nil {
		delete(s.byID, sha256.Sum256([]byte(c.Value)))
	}
	if len(s.byID) >= s.cfg.Max {
		s.evictLocked(now)
	}
	s.byID[sess.key] = sess
	s.mu.Unlock()
	http.SetCookie(w, s.cookie(r, id, int(s.cfg.MaxAge/time.Second)))
	return sess
}

// evictLocked makes room: expired sessions go, and if none had, the one
// used least recently.
func (s *Sessions) evictLocked(now time.Time) {
	var oldest *Session
	for k, sess := range s.byID {
		if s.expired(sess, now) {
			delete(s.byID, k)
			continue
		}
		if oldest == nil || sess.seen.Before(oldest.seen) {
			oldest = sess
		}
	}
	if len(s.byID) >= s.cfg.Max && oldest != nil {
		delete(s.byID, oldest.key)
	}
}

func (s *Sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.seen) > s.cfg.Idle || now.Sub(sess.Created) > s.cfg.MaxAge
}

func (s *Sessions) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.cfg.Cookie, Value: value, Path: s.cfg.Path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

// Lookup returns the request's live session and marks it used. An expired
// session, or one whose principal is no longer valid, ends here.
func (s *Sessions) Lookup(r *http.Request) (*Session, bool) {
	c, err := r.Cookie(s.cfg.Cookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(c.Value))
	now := s.cfg.Now()
	s.mu.Lock()
	sess, ok := s.byID[key]
	if ok && s.expired(sess, now) {
		delete(s.byID, key)
		ok = false
	}
	if ok {
		sess.seen = now
	}
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	if s.cfg.Valid != nil && !s.cfg.Valid(sess.Principal) {
		s.mu.Lock()
		delete(s.byID, key)
		s.mu.Unlock()
		return nil, false
	}
	return sess, true
}

// End signs the request's session out and clears its cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cfg.Cookie); err == nil {
		s.mu.Lock()
		delete(s.byID, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
	http.SetCookie(w, s.cookie(r, "", -1))
}

// EndWhere ends every session whose principal matches, for example all of
// one user's when the user is removed, and returns how many ended.
func (s *Sessions) EndWhere(match func(Principal) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, sess := range s.byID {
		if match(sess.Principal) {
			delete(s.byID, k)
			n++
		}
	}
	return n
}

// Len is how many sessions the store holds (expired ones not yet swept
// included).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

type sessionKey struct{}

// FromContext returns the session Require put in the request's context.
func FromContext(ctx context.Context) *Session {
	sess, _ := ctx.Value(sessionKey{}).(*Session)
	return sess
}

// WithSession returns ctx carrying sess, for handlers called outside Require
// (tests).
func WithSession(ctx context.Context, sess *Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, sess)
}

// Require serves next only to a signed-in session, found in the context
// with FromContext; others are sent to signIn (a GET) or refused with 401.
// Every request but GET, HEAD and OPTIONS must carry the session's CSRF
// token, or it is refused with 403 before next sees it.
func (s *Sessions) Require(next http.Handler, signIn string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.Lookup(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, signIn+"?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if !safeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		}
		if !safeMethod(r.Method) && !sess.CheckCSRF(r) {
			http.Error(w, "forbidden: missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithSession(r.Context(), sess)))
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
