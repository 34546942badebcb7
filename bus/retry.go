package bus

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Transient reports whether a NATS or JetStream request failed for a reason
// that passes by itself on a cluster: no server answered yet (a stream or
// consumer whose leader is being elected, interest not yet propagated over
// the routes), the request timed out, the connection is reconnecting, or
// the meta layer is busy. Such a request is worth repeating; anything else
// (a bad config, a missing stream) is not.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) {
		return true
	}
	var api *jetstream.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode {
	case 10004, // incomplete results
		10005,                      // no suitable peers (the cluster is still forming)
		10008,                      // JetStream system temporarily unavailable
		10009,                      // the server asked is not the leader
		10118, 10119, 10194, 10195, // stream or consumer offline (a leader change)
		10202: // a cluster member change is in progress
		return true
	}
	return false
}

// Retry is a bounded retry policy for requests to JetStream: each attempt
// gets its own short deadline, and a transient failure is repeated after a
// jittered, growing pause, so that processes started together do not retry
// in step.
type Retry struct {
	Attempts int           // tries in all; zero means 8
	Timeout  time.Duration // deadline of one try; zero means 5s
	Base     time.Duration // first pause; zero means 100ms
	Max      time.Duration // longest pause; zero means 2s
}

// Do calls fn until it succeeds, fails for a reason that is not Transient,
// the attempts are spent, or ctx ends; it returns fn's last error. fn's
// context carries the per-try deadline.
func (r Retry) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if r.Attempts <= 0 {
		r.Attempts = 8
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Second
	}
	if r.Base <= 0 {
		r.Base = 100 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 2 * time.Second
	}
	pause := r.Base
	var err error
	for attempt := 1; ; attempt++ {
		tryCtx, cancel := context.WithTimeout(ctx, r.Timeout)
		err = fn(tryCtx)
		cancel()
		if err == nil || !Transient(err) || attempt >= r.Attempts || ctx.Err() != nil {
			return err
		}
		// Full jitter: anywhere between half the pause and the pause.
		d := pause/2 + rand.N(pause/2+1)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		pause = min(2*pause, r.Max)
	}
}

// retry is the policy of the bus's own administrative requests.
var retry = Retry{}
