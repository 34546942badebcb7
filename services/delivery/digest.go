package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
)

// ErrNotBatched is returned by Flush for an account that has no batched
// webhook delivery in this process.
var ErrNotBatched = errors.New("account has no batched webhook delivery here")

// Cursor is how far an account's digests have gone: every event of the
// account in XD_OUT up to stream sequence Seq was sent, the last digest at
// SentAt.
//
// Why a cursor in KV rather than a consumer holding a day of unacked
// messages: the events stay in XD_OUT (30 days) anyway, so a digest only
// needs to know where the last one ended. The cursor is written after the
// digest POST succeeded, with a revision check, so a restart between two
// digests loses nothing (the range is read again from the stream) and sends
// nothing twice (the cursor says where to start). Pending messages of a
// consumer would instead wait out an AckWait longer than the digest period
// after a crash. The one window left, a crash after the POST and before the
// cursor write, resends the same range with the same Crossdock-Digest-Id, so
// the receiver can recognise it.
type Cursor struct {
	Seq    uint64    `json:"seq"`
	SentAt time.Time `json:"sent_at"`
	// Owner is the process sending a digest now, and Until when its claim
	// lapses (see claim).
	Owner string    `json:"owner,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

func cursorKey(account string) string { return "digest." + account }

// cursor reads an account's cursor; nil when it has none yet.
func (s *Service) cursor(ctx context.Context, account string) (*Cursor, uint64, error) {
	e, err := s.kv.Get(ctx, cursorKey(account))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("digest cursor of %s: %w", account, err)
	}
	var c Cursor
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return nil, 0, fmt.Errorf("digest cursor of %s: revision %d: %w", account, e.Revision(), err)
	}
	return &c, e.Revision(), nil
}

// startCursor creates an account's cursor at the realtime consumer's ack
// floor (or the stream's start), with the first digest due one period from
// now.
func (s *Service) startCursor(ctx context.Context, ep Endpoint) (*Cursor, error) {
	seq, err := s.position(ctx, ep)
	if err != nil {
		return nil, err
	}
	c := &Cursor{Seq: seq, SentAt: s.cfg.Now().UTC()}
	b, _ := json.Marshal(c)
	if _, err := s.kv.Create(ctx, cursorKey(ep.Account), b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("digest cursor of %s: %w", ep.Account, err)
	}
	cur, _, err := s.cursor(ctx, ep.Account)
	return cur, err
}

// flushRequest asks a digest worker for a digest now. The worker records
// each POST that succeeds in it, so that a Flush whose deadline passes can
// say what was delivered, and sends the outcome on done.
type flushRequest struct {
	done  chan flushResult
	mu    sync.Mutex
	sofar DigestResult
}

// posted records what the digest has delivered so far; nil-safe.
func (r *flushRequest) posted(res DigestResult) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.sofar = res
	r.mu.Unlock()
}

func (r *flushRequest) delivered() DigestResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sofar
}

type flushResult struct {
	res DigestResult
	err error
}

// digests sends an account's digest every DigestEvery and whenever Flush
// asks, until ctx ends. A digest that fails is tried again after
// min(DigestEvery, 5m); its events stay where they are.
func (s *Service) digests(ctx context.Context, sp spec, flush chan *flushRequest) error {
	var notBefore time.Time
	for {
		cur, _, err := s.cursor(ctx, sp.Account)
		if err != nil {
			return err
		}
		if cur == nil {
			if cur, err = s.startCursor(ctx, sp.Endpoint); err != nil {
				return err
			}
		}
		due := cur.SentAt.Add(sp.DigestEvery)
		if due.Before(notBefore) {
			due = notBefore
		}
		t := time.NewTimer(max(0, due.Sub(s.cfg.Now())))
		var req *flushRequest
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case req = <-flush:
			t.Stop()
		case <-t.C:
		}
		res, err := s.digest(ctx, sp.Endpoint, req.posted)
		if req != nil {
			req.done <- flushResult{res, err}
		}
		notBefore = time.Time{}
		if errors.Is(err, ErrDigestBusy) {
			// Another process is sending it; look again shortly.
			notBefore = s.cfg.Now().Add(min(sp.DigestEvery, 30*time.Second))
			continue
		}
		if err != nil {
			s.log.Warn("digest not sent; its events stay for the next", zap.String("endpoint", sp.Name()), zap.Error(err))
			notBefore = s.cfg.Now().Add(min(sp.DigestEvery, 5*time.Minute))
		}
	}
}

// DigestResult is what one digest run sent.
type DigestResult struct {
	Events int `json:"events"` // events sent
	Posts  int `json:"posts"`  // POSTs made (one per MaxDigest events)
	// Done is false when Flush's deadline passed first: the digest goes on
	// (its POSTs retried with backoff, as a scheduled digest's are), and
	// Pending says how many of the account's events wait for it.
	Done    bool `json:"done"`
	Pending int  `json:"pending"`
}

// Flush sends the account's digest now, whatever the time since the last,
// and returns what it sent once it is done (nothing when there was nothing
// new). The account's next digest is then due a full period later.
//
// When ctx ends first (the endpoint is down and its POSTs are being
// retried, or another digest of the account is under way), Flush returns
// at once with what was delivered so far, Done false and the events still
// pending: an operator's call answers in the time it allows, never after
// the several minutes of a digest's retries.
func (s *Service) Flush(ctx context.Context, account string) (DigestResult, error) {
	s.mu.Lock()
	w := s.running[Endpoint{Account: account}.Durable()]
	ch := s.flush[account]
	s.mu.Unlock()
	if w == nil || ch == nil || !w.spec.Batched {
		return DigestResult{}, fmt.Errorf("flush %s: %w", account, ErrNotBatched)
	}
	stopped := fmt.Errorf("flush %s: its digest worker is restarting; try again", account)
	req := &flushRequest{done: make(chan flushResult, 1)}
	select {
	case ch <- req:
	case <-w.done:
		return DigestResult{}, stopped
	case <-ctx.Done():
		return s.unfinished(ctx, w.spec.Endpoint, DigestResult{})
	}
	select {
	case r := <-req.done:
		r.res.Done = r.err == nil
		return r.res, r.err
	case <-w.done:
		return DigestResult{}, stopped
	case <-ctx.Done():
		return s.unfinished(ctx, w.spec.Endpoint, req.delivered())
	}
}

// unfinished is Flush's answer when its deadline passed: what was
// delivered, and how many of the account's events are still pending.
func (s *Service) unfinished(ctx context.Context, ep Endpoint, sofar DigestResult) (DigestResult, error) {
	if ctx.Err() != context.DeadlineExceeded {
		return sofar, ctx.Err() // the caller went away: no answer to give
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	n, err := s.pending(ctx, ep)
	if err != nil {
		return sofar, fmt.Errorf("flush %s: not done in time, and pending events not counted: %w", ep.Account, err)
	}
	sofar.Pending, sofar.Done = n, false
	return sofar, nil
}

// pending counts the endpoint's events in XD_OUT after its digest cursor,
// with a short-lived consumer that delivers nothing.
func (s *Service) pending(ctx context.Context, ep Endpoint) (int, error) {
	cur, _, err := s.cursor(ctx, ep.Account)
	if err != nil {
		return 0, err
	}
	cfg := jetstream.ConsumerConfig{FilterSubjects: []string{ep.Subject()}, AckPolicy: jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute, MemoryStorage: true}
	if cur != nil {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cur.Seq+1
	}
	c, err := s.js.CreateConsumer(ctx, bus.StreamOut, cfg)
	if err != nil {
		return 0, fmt.Errorf("count pending events of %s: %w", ep.Account, err)
	}
	n := c.CachedInfo().NumPending
	_ = s.js.DeleteConsumer(ctx, bus.StreamOut, c.CachedInfo().Name)
	return int(n), nil
}

func (s *Service) lock(account string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.locks[account]
	if !ok {
		l = &sync.Mutex{}
		s.locks[account] = l
	}
	return l
}

// digest sends every event of the account after its cursor, in POSTs of at
// most MaxDigest events, moving the cursor after each POST that succeeded.
// An account with nothing new gets no POST; its period restarts.
func (s *Service) digest(ctx context.Context, ep Endpoint, posted func(DigestResult)) (DigestResult, error) {
	l := s.lock(ep.Account)
	l.Lock()
	defer l.Unlock()
	var res DigestResult
	for {
		cur, rev, err := s.cursor(ctx, ep.Account)
		if err != nil {
			return res, err
		}
		if cur == nil {
			if _, err = s.startCursor(ctx, ep); err != nil {
				return res, err
			}
			if cur, rev, err = s.cursor(ctx, ep.Account); err != nil {
				return res, err
			}
		}
		c, err := s.claim(ctx, ep.Account, cur, rev)
		if err != nil {
			return res, err
		}
		n, more, err := s.digestOnce(ctx, ep, c)
		res.Events += n
		if n > 0 {
			res.Posts++
			posted(res)
		}
		if err != nil || !more {
			return res, err
		}
	}
}

// ErrDigestBusy is returned when another process is sending the account's
// digest right now.
var ErrDigestBusy = errors.New("another process is sending this digest")

// claimLease is how long a process may hold a digest before another takes
// over; the holder renews it while it keeps retrying.
const claimLease = 5 * time.Minute

// claimed is a cursor this process holds, with the revision to write it at.
type claimed struct {
	Cursor
	rev uint64
}

// claim marks the cursor as taken by this process, with a revision check, so
// that two processes running delivery never send the same digest: the one
// whose write lands sends it, the other gets ErrDigestBusy. A claim whose
// lease ran out (its process died) is taken over.
func (s *Service) claim(ctx context.Context, account string, cur *Cursor, rev uint64) (*claimed, error) {
	now := s.cfg.Now().UTC()
	if cur.Owner != "" && cur.Owner != s.id && now.Before(cur.Until) {
		return nil, fmt.Errorf("digest of %s: %w (%s)", account, ErrDigestBusy, cur.Owner)
	}
	c := &claimed{Cursor: *cur, rev: rev}
	c.Owner, c.Until = s.id, now.Add(claimLease)
	if err := s.writeCursor(ctx, account, c); err != nil {
		if isConflict(err) {
			return nil, fmt.Errorf("digest of %s: %w", account, ErrDigestBusy)
		}
		return nil, err
	}
	return c, nil
}

// writeCursor stores c at its revision and advances it.
func (s *Service) writeCursor(ctx context.Context, account string, c *claimed) error {
	b, _ := json.Marshal(c.Cursor)
	rev, err := s.kv.Update(ctx, cursorKey(account), b, c.rev)
	if err != nil {
		return fmt.Errorf("digest cursor of %s: %w", account, err)
	}
	c.rev = rev
	return nil
}

func isConflict(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &api) &&
		(api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// digestOnce sends the events after a claimed cursor, at most MaxDigest, in
// one POST, then moves the cursor past them and releases the claim. It
// reports how many it sent and whether more are waiting.
func (s *Service) digestOnce(ctx context.Context, ep Endpoint, c *claimed) (int, bool, error) {
	release := func() {
		c.Owner, c.Until = "", time.Time{}
		if err := s.writeCursor(context.WithoutCancel(ctx), ep.Account, c); err != nil {
			s.log.Warn("digest claim not released; it lapses by itself", zap.String("endpoint", ep.Name()), zap.Error(err))
		}
	}
	var events []*event.Event
	last := c.Seq
	err := bus.Scan(ctx, s.js, bus.StreamOut, []string{ep.Subject()}, bus.From{Seq: c.Seq + 1}, func(m jetstream.Msg, seq uint64) bool {
		last = seq
		ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			s.log.Warn("digest skips a message that is not a CloudEvent", zap.String("endpoint", ep.Name()), zap.Uint64("seq", seq), zap.Error(err))
			return len(events) < s.cfg.MaxDigest
		}
		events = append(events, ev)
		return len(events) < s.cfg.MaxDigest
	})
	if err != nil {
		release()
		return 0, false, fmt.Errorf("digest of %s: read: %w", ep.Account, err)
	}
	if len(events) > 0 {
		id := bus.DeriveID(ep.Account, "digest/"+strconv.FormatUint(c.Seq+1, 10)+"-"+strconv.FormatUint(last, 10))
		p, err := BatchPayload(events, id)
		if err != nil {
			release()
			return 0, false, err
		}
		renew := func() {
			if time.Until(c.Until) > claimLease/2 {
				return
			}
			c.Until = s.cfg.Now().UTC().Add(claimLease)
			if err := s.writeCursor(context.WithoutCancel(ctx), ep.Account, c); err != nil {
				s.log.Warn("digest claim not renewed", zap.String("endpoint", ep.Name()), zap.Error(err))
			}
		}
		out := s.sender.Deliver(ctx, ep, p, renew)
		if !out.Delivered {
			release()
			return 0, false, fmt.Errorf("digest of %s (%d events): %s after %d attempt(s)", ep.Account, len(events), out.Last, out.Attempts)
		}
		s.m.digested.Add(float64(len(events)))
		s.log.Info("digest sent", zap.String("endpoint", ep.Name()), zap.Int("events", len(events)), zap.String("digest_id", id))
	}
	done := &claimed{Cursor: Cursor{Seq: last, SentAt: s.cfg.Now().UTC()}, rev: c.rev}
	if err := s.writeCursor(context.WithoutCancel(ctx), ep.Account, done); err != nil {
		return len(events), false, fmt.Errorf("digest of %s: sent, but the cursor was not moved to %d (the next digest repeats it with the same %s): %w",
			ep.Account, last, HeaderDigestID, err)
	}
	return len(events), len(events) == s.cfg.MaxDigest, nil
}
