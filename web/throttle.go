package web

import (
	"sync"
	"time"
)

// ThrottleConfig configures a Throttle; every zero value has a default.
type ThrottleConfig struct {
	// Free is how many failures in a row cost nothing; zero means 3.
	Free int
	// Base is the wait after the first failure past Free; it doubles with
	// every further one. Zero means one second.
	Base time.Duration
	// Ceiling caps the wait; zero means 15 minutes. A key with no failure
	// for twice this long is forgotten.
	Ceiling time.Duration
	// Max bounds how many keys are remembered; zero means 10,000.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Throttle slows repeated failed sign-ins per key (a user, a remote
// address): after Free failures, each further attempt must wait
// Base·2^(n−Free−1), up to Ceiling, after the last failure. A success clears
// the key. Memory is bounded by Max keys; when full, forgotten keys go
// first, then the one whose last failure is oldest, so a client inventing
// keys can only push out the coldest ones, while its own address, failing
// on every try, stays the hottest.
type Throttle struct {
	cfg ThrottleConfig

	mu      sync.Mutex
	strikes map[string]*strike
}

type strike struct {
	failures int
	last     time.Time
}

// NewThrottle returns an empty throttle.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Free <= 0 {
		cfg.Free = 3
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Ceiling <= 0 {
		cfg.Ceiling = 15 * time.Minute
	}
	if cfg.Max <= 0 {
		cfg.Max = 10_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, strikes: map[string]*strike{}}
}

// delay is the wait after n failures.
func (t *Throttle) delay(n int) time.Duration {
	if n <= t.cfg.Free {
		return 0
	}
	d := t.cfg.Base
	for i := t.cfg.Free + 1; i < n && d < t.cfg.Ceiling; i++ {
		d *= 2
	}
	return min(d, t.cfg.Ceiling)
}

// Wait is how long the caller must wait before trying any of keys again;
// zero means try now.
func (t *Throttle) Wait(keys ...string) time.Duration {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if s, ok := t.strikes[k]; ok {
			wait = max(wait, s.last.Add(t.delay(s.failures)).Sub(now))
		}
	}
	return wait
}

// Fail records a failed attempt against every key.
func (t *Throttle) Fail(keys ...string) {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		s, ok := t.strikes[k]
		if !ok {
			if len(t.strikes) >= t.cfg.Max {
				t.evictLocked(now)
			}
			s = &strike{}
			t.strikes[k] = s
		}
		s.failures++
		s.last = now
	}
}

// Succeed clears keys after a successful attempt.
func (t *Throttle) Succeed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.strikes, k)
	}
}

// Len is how many keys the throttle remembers.
func (t *Throttle) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.strikes)
}

func (t *Throttle) evictLocked(now time.Time) {
	var coldest string
	var coldestAt time.Time
	for k, s := range t.strikes {
		if now.Sub(s.last) > 2*t.cfg.Ceiling {
			delete(t.strikes, k)
			continue
		}
		if coldest == "" || s.last.Before(coldestAt) {
			coldest, coldestAt = k, s.last
		}
	}
	if len(t.strikes) >= t.cfg.Max && coldest != "" {
		delete(t.strikes, coldest)
	}
}
