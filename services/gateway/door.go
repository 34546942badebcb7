package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
)

// BodyTimeout is how long the gateway waits for a request's body by default
// (DoorConfig.BodyTimeout): at 1 MiB, a client slower than 50 KiB/s is
// answered 408 and its connection closed rather than held.
const BodyTimeout = 20 * time.Second

// AccountRequests is how many HTTP requests of one sender (an account or a
// warehouse) the gateway works on at once, by the sender's lane: at most
// half the lane's slots (LaneRequests), so that one account never holds a
// whole lane. As many more wait their turn; beyond that a request is
// answered 429 rate_limited at once.
var AccountRequests = map[accounts.Lane]int{accounts.Priority: 32, accounts.Standard: 8, accounts.Bulk: 4}

// DoorConfig configures the Door. The zero value is ready for use.
type DoorConfig struct {
	// BodyTimeout bounds the reading of a request's body; zero means
	// BodyTimeout (ingest files get four times as long).
	BodyTimeout time.Duration
	// Requests is the per-sender cap on concurrent requests by lane; nil
	// means AccountRequests.
	Requests map[accounts.Lane]int
	// Now is the quotas' clock; nil means time.Now.
	Now func() time.Time
}

// Door is what every request of a sender passes on its way in, over HTTP
// (POST /v1/events, /v1/ingest) and NATS (the intake relay): a cap on the
// sender's concurrent requests and its quota (quota.go). Its state is kept
// per authenticated sender of the registry, never per anything a request
// names, so a hostile client cannot make it grow.
type Door struct {
	reg  *accounts.Registry
	cfg  DoorConfig
	mu   sync.Mutex
	from map[bus.Sender]*senderState
}

// senderState is the Door's state of one sender.
type senderState struct {
	lane     accounts.Lane
	working  chan struct{} // holds a token per request being worked on
	queued   int           // requests waiting for a working token (under Door.mu)
	quota    *quota
	quotaKey accounts.Quota
}

// NewDoor returns a Door over the registry's senders.
func NewDoor(reg *accounts.Registry, cfg DoorConfig) *Door {
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = BodyTimeout
	}
	if cfg.Requests == nil {
		cfg.Requests = AccountRequests
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Door{reg: reg, cfg: cfg, from: map[bus.Sender]*senderState{}}
}

// known reports whether the registry knows the sender.
func (d *Door) known(from bus.Sender) bool {
	if from.Warehouse != "" {
		_, ok := d.reg.Warehouse(from.Warehouse)
		return ok
	}
	_, ok := d.reg.Account(from.Account)
	return ok
}

// laneOf is the lane of a sender's requests: its account's, standard for
// warehouses.
func (d *Door) laneOf(from bus.Sender) accounts.Lane {
	if from.Warehouse == "" {
		if e, ok := d.reg.Account(from.Account); ok {
			return e.Policy.Lane
		}
	}
	return accounts.Standard
}

// unknownSender is the one state all senders the registry does not know
// share (an operator publishing on a made-up account's subject): the Door's
// memory follows the registry, not what messages name.
var unknownSender = bus.Sender{Account: "_unknown"}

// state returns the sender's state, made on first use and renewed when its
// lane changed (a tier change).
func (d *Door) state(from bus.Sender) *senderState {
	if !d.known(from) {
		from = unknownSender
	}
	lane := d.laneOf(from)
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.from[from]
	if s == nil || s.lane != lane {
		s = &senderState{lane: lane, working: make(chan struct{}, max(d.cfg.Requests[lane], 1))}
		d.from[from] = s
	}
	return s
}

// errBusy is the answer to a sender with too many requests at once.
var errBusy = errors.New("too many requests at once")

// enter waits for one of the sender's working tokens and returns its
// release. It refuses at once (errBusy) when as many of the sender's
// requests already wait as it may have at work, and returns the context's
// error when the client went away.
func (d *Door) enter(ctx context.Context, from bus.Sender) (func(), error) {
	s := d.state(from)
	select {
	case s.working <- struct{}{}:
		return func() { <-s.working }, nil
	default:
	}
	d.mu.Lock()
	if s.queued >= cap(s.working) {
		d.mu.Unlock()
		return nil, errBusy
	}
	s.queued++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		s.queued--
		d.mu.Unlock()
	}()
	select {
	case s.working <- struct{}{}:
		return func() { <-s.working }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// admit lets a request in (enter) or answers it: 429 rate_limited when the
// sender has too many requests at once. ok is false when the request has
// been answered (or its client is gone).
func (d *Door) admit(w http.ResponseWriter, r *http.Request, from bus.Sender) (release func(), ok bool) {
	release, err := d.enter(r.Context(), from)
	switch {
	case err == nil:
		return release, true
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		problem.One(w, http.StatusTooManyRequests, bus.CodeRateLimited,
			fmt.Sprintf("%d requests of this sender are already in progress or waiting; send fewer at once", 2*cap(d.state(from).working)), "")
	}
	return nil, false
}

// readBody reads a request's body, at most limit bytes, within the door's
// body timeout (times factor). It answers the request itself (413, 408, 400)
// and returns false when the body could not be read.
func (d *Door) readBody(w http.ResponseWriter, r *http.Request, limit int64, factor int, what string, badCode string) ([]byte, bool) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(d.cfg.BodyTimeout * time.Duration(max(factor, 1))))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return body, true
	case errors.As(err, &tooLarge):
		problem.One(w, http.StatusRequestEntityTooLarge, bus.CodeTooLarge, fmt.Sprintf("the %s is over the limit of %d bytes", what, limit), "")
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		problem.One(w, http.StatusRequestTimeout, bus.CodeRequestTimeout,
			fmt.Sprintf("the %s did not arrive within %s", what, d.cfg.BodyTimeout*time.Duration(max(factor, 1))), "")
	default:
		problem.One(w, http.StatusBadRequest, badCode, "reading the request: "+err.Error(), "")
	}
	return nil, false
}

// retryAfter is a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}
