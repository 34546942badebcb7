package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Headers the bus adds to a dead letter, beside the original's own headers.
const (
	HeaderDLQCode     = "Crossdock-Dlq-Code"
	HeaderDLQErrors   = "Crossdock-Dlq-Errors" // JSON array of Problem
	HeaderDLQSubject  = "Crossdock-Dlq-Subject"
	HeaderDLQStream   = "Crossdock-Dlq-Stream"
	HeaderDLQSequence = "Crossdock-Dlq-Sequence"
	HeaderDLQConsumer = "Crossdock-Dlq-Consumer"
	HeaderDLQAttempts = "Crossdock-Dlq-Attempts"
	HeaderDLQTime     = "Crossdock-Dlq-Time"
)

// ConsumerConfig describes a durable pull consumer and its worker pool.
type ConsumerConfig struct {
	Stream   string   // stream to consume
	Durable  string   // durable consumer name, shared by every process running it
	Subjects []string // filter subjects
	Source   string   // CloudEvents source of the rejections it makes (/crossdock/<service>)

	// Workers is how many messages are handled at once; zero means 4. A
	// worker does not wait for its outputs to be stored: it hands the
	// message to the consumer's settler, which acks it once they are, and
	// takes the next (at most settleWindow messages wait so).
	Workers int
	// MaxAckPending bounds the messages in flight (delivered, not yet acked)
	// across every process; zero means 64 per worker.
	MaxAckPending int
	// MaxDeliver is the number of attempts before a message that keeps
	// failing transiently goes to the DLQ; zero means 5. Counted by the bus,
	// not the server, so a message that crashes its process is caught too.
	MaxDeliver int
	// AckWait is how long the server waits for an outcome before
	// redelivering; zero means the bus's (Options.AckWait, itself
	// DefaultAckWait unless set). Each handler call gets this as deadline.
	AckWait time.Duration
	// Backoff is the delay before attempt n+1 after a transient failure of
	// attempt n (the last value repeats); nil means the bus's
	// (Options.Backoff, itself DefaultBackoff unless set).
	Backoff []time.Duration
	// Raw hands the handler the message as it arrived, undecoded
	// (Delivery.Event nil, Delivery.Data the body): for payloads that are
	// not CloudEvents, such as partners' files on xd.raw, and for a
	// consumer that decides most messages on their subject and headers and
	// decodes the rest itself (with Decode, returning a Rejection when that
	// fails).
	Raw bool
	// Follow, when set, keeps the consumer's filter in step with what its
	// Want gives now (Subjects is then unused): for consumers that serve a
	// few accounts' events out of every account's, the rest then never
	// delivered. One Follower per consumer.
	Follow *Follower
	// Letters names the consumer in its dead letters (their
	// Crossdock-Dlq-Consumer and the Nats-Msg-Id they are stored under);
	// zero means Durable. Consumers of one stream that may each be given the
	// same message (the router's lanes and its sweep) share one, so that a
	// message both reject is dead-lettered once.
	Letters string
	// Admit, when set, is called by a worker before it handles each
	// message, with the time JetStream stored it, and the message waits
	// until it returns; the Admission it returns says what to tell once the
	// message is handled and once it is settled. For lanes that give way
	// to one another (lanes.Governor). It must return within a few
	// seconds, well inside AckWait.
	Admit func(ctx context.Context, stored time.Time) Admission
}

// Admission is what an admitted message tells its lane's scheduler; either
// func may be nil.
type Admission struct {
	// Handled is called once the handler has returned and its outputs are
	// published, not yet stored: the worker's own work on the message is
	// done, and the worker takes the next.
	Handled func()
	// Settled is called once the message is settled: acked once its
	// outputs are stored, or retried, rejected or dead-lettered.
	Settled func()
}

// DefaultAckWait is how long a consumer's message may go without an
// outcome before the server redelivers it, unless the bus or the consumer
// says otherwise: the time a process that died holding messages delays
// them.
const DefaultAckWait = 30 * time.Second

// DefaultBackoff is the delay before each new attempt at a message that
// failed transiently, unless the bus or the consumer says otherwise: short
// first for a blip, then long enough to ride out a server or a
// dependency coming back.
func DefaultBackoff() []time.Duration {
	return []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
}

// defaults fills what c leaves zero: ackWait and backoff are the bus's
// (Options), themselves defaulted.
func (c *ConsumerConfig) defaults(ackWait time.Duration, backoff []time.Duration) {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 64 * c.Workers
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if c.AckWait <= 0 {
		c.AckWait = ackWait
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Letters == "" {
		c.Letters = c.Durable
	}
	if len(c.Backoff) == 0 {
		c.Backoff = backoff
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff()
	}
}

// Delivery is one message handed to a Handler.
type Delivery struct {
	Event   *event.Event
	Subject string
	Header  nats.Header
	Size    int // bytes of the body as it arrived
	Attempt int // 1 on first delivery
	// Seq is the message's sequence in its stream (0 when JetStream did not
	// say): consumers of one stream compare progress with it.
	Seq uint64
	// Data is the body as it arrived (the event's data in binary mode, the
	// whole event in structured mode; with ConsumerConfig.Raw the only
	// content, since Event is nil).
	Data []byte
	// Stored is when JetStream stored the message: the hub's clock, the same
	// on every redelivery, so decisions that depend on time stay stable.
	Stored time.Time
}

// Handler decides what a message produces. It returns the events to publish
// (nil error: they are stored, then the message is acked), a *Rejection (the
// outputs, or an event.rejected when there are none, go to the sender and the
// original to the DLQ), or any other error, which is transient (the message
// is redelivered with backoff, then dead-lettered after the last attempt).
type Handler func(ctx context.Context, d *Delivery) ([]Outgoing, error)

// Consume runs a durable pull consumer until ctx ends. On shutdown it stops
// fetching, finishes the messages it holds, and returns; anything not yet
// acked is redelivered to the next process.
func (b *Bus) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) error {
	cfg.defaults(b.ackWait, b.backoff)
	if cfg.Follow != nil {
		cfg.Subjects = cfg.Follow.Want()
	}
	// Processes started together on a cluster create the same durable
	// consumers at once: each try has its own deadline, and a transient
	// failure is tried again (the request is idempotent).
	var cons jetstream.Consumer
	err := Retry{Timeout: 10 * time.Second}.Do(ctx, func(ctx context.Context) (err error) {
		cons, err = b.js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable:        cfg.Durable,
			FilterSubjects: cfg.Subjects,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        cfg.AckWait,
			MaxDeliver:     -1,
			MaxAckPending:  cfg.MaxAckPending,
			DeliverPolicy:  jetstream.DeliverAllPolicy,
		})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("consumer %s on %s: %w", cfg.Durable, cfg.Stream, err)
	}
	// A pull request the server has lost (seen under load: "no heartbeat
	// received") stalls the consumer until the client misses two
	// heartbeats; with nats.go's defaults (30s expiry) that was 30 seconds
	// of nothing delivered. Short requests with frequent heartbeats bound
	// the stall to about two seconds, for a pull request every few seconds
	// on an idle consumer.
	it, err := cons.Messages(jetstream.PullMaxMessages(2*cfg.Workers), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("consumer %s: pull: %w", cfg.Durable, err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	if cfg.Follow != nil {
		following, stopFollowing := context.WithCancel(ctx)
		followed := make(chan struct{})
		go func() { defer close(followed); cfg.Follow.run(following, b, cfg.Stream, cons) }()
		defer func() { stopFollowing(); <-followed }()
	}

	// Handlers run on a context that outlives ctx, so that shutdown lets
	// in-flight messages finish rather than fail.
	workCtx := context.WithoutCancel(ctx)
	msgs := make(chan jetstream.Msg)
	// A worker hands a message whose outputs it has published to the
	// settler and takes the next one: it does not wait for JetStream's
	// acknowledgements, so a few workers keep many publishes in flight
	// (docs/performance.md). The channel bounds how far they get ahead.
	pending := make(chan *settling, settleWindow)
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		for p := range pending {
			b.finish(workCtx, &cfg, p)
		}
	}()
	// Messages whose outputs wait on a Guard pass through a stage of their
	// own first, which publishes the outputs once the guard is stored: the
	// settler never waits a round trip per message.
	guarded := make(chan *settling, settleWindow)
	unguarded := make(chan struct{})
	go func() {
		defer close(unguarded)
		for p := range guarded {
			if b.afterGuard(workCtx, &cfg, p) {
				pending <- p
			}
		}
	}()
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for m := range msgs {
				md := metaOf(m)
				var a Admission
				if cfg.Admit != nil {
					a = cfg.Admit(workCtx, md.stored)
				}
				start := time.Now()
				p, outcome := b.settle(workCtx, &cfg, h, m, md)
				if a.Handled != nil {
					a.Handled()
				}
				done := a.Settled
				if p == nil {
					b.record(&cfg, outcome, start, done)
					continue
				}
				p.start, p.done = start, done
				if p.guard != nil {
					guarded <- p
				} else {
					pending <- p
				}
			}
		})
	}
	var fatal error
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				break // drained on shutdown
			}
			if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
				// A consumer deleted while no pull was waiting is only heard
				// of as missing heartbeats: ask the server whether it is gone.
				if _, ierr := cons.Info(ctx); ierr != nil && ConsumerStopped(ierr) {
					err = ierr
				}
			}
			if ConsumerStopped(err) {
				// The consumer, its stream or the connection is gone: nothing
				// more will come, and a process that carried on without it
				// would look healthy while one lane takes nothing.
				it.Stop()
				fatal = fmt.Errorf("consumer %s on %s stopped taking messages: %w", cfg.Durable, cfg.Stream, err)
				break
			}
			b.log.Warn("consumer pull", zap.String("consumer", cfg.Durable), zap.Error(err))
			continue
		}
		msgs <- m
	}
	close(msgs)
	wg.Wait()
	close(guarded)
	<-unguarded
	close(pending)
	<-settled
	if fatal != nil {
		b.log.Error("consumer stopped", zap.String("consumer", cfg.Durable), zap.Error(fatal))
	}
	return fatal
}

// ConsumerStopped reports whether a pull error means the consumer will never
// deliver again (Consume then fails; delivery starts the endpoint's worker
// again, with a new consumer): deleted (or its stream), refused as a bad request, the
// iterator closed or the connection closed while the consumer was meant to
// run.
func ConsumerStopped(err error) bool {
	return errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBadRequest)
}

// settleWindow is how many handled messages one consumer may have waiting
// for their outputs' acknowledgements in this process.
const settleWindow = 256

// settling is a handled message whose outputs JetStream has not yet
// acknowledged; the message is acked once they all are.
type settling struct {
	m       jetstream.Msg
	attempt int
	ev      *event.Event
	futures []jetstream.PubAckFuture
	start   time.Time
	done    func() // Admit's, when not nil

	// guard, when not nil, is the Guard's acknowledgement; after holds the
	// outputs to publish once it is stored, ids their Nats-Msg-Ids.
	guard jetstream.PubAckFuture
	after []*nats.Msg
	ids   []string
}

// afterGuard waits for p's guard to be stored, then publishes the outputs
// that waited on it and reports true: p goes on to finish. When JetStream
// refuses the guard because its expectation no longer holds, the message is
// redelivered at once for its handler to decide again; any other failure
// is a failed publish. p is then settled, and it reports false.
func (b *Bus) afterGuard(ctx context.Context, cfg *ConsumerConfig, p *settling) bool {
	deadline := time.NewTimer(time.Until(p.start.Add(cfg.AckWait)))
	defer deadline.Stop()
	var err error
	select {
	case <-p.guard.Ok():
	case err = <-p.guard.Err():
	case <-deadline.C:
		err = fmt.Errorf("no acknowledgement within %v", cfg.AckWait)
	}
	if err == nil {
		p.futures = make([]jetstream.PubAckFuture, len(p.after))
		for i, m := range p.after {
			f, perr := b.js.PublishMsgAsync(m, jetstream.WithMsgID(p.ids[i]))
			if perr != nil {
				err = fmt.Errorf("publish %s: %w", m.Subject, perr)
				break
			}
			p.futures[i] = f
		}
		if err == nil {
			return true
		}
	} else {
		err = fmt.Errorf("publish %s: %w", p.guard.Msg().Subject, err)
	}
	outcome := "retried"
	if IsConflict(err) {
		if nerr := p.m.Nak(); nerr != nil {
			b.log.Warn("nak", zap.String("consumer", cfg.Durable), zap.Error(nerr))
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, cfg.AckWait)
		outcome = b.failedPublish(ctx, cfg, p.m, p.ev, p.attempt, err)
		cancel()
	}
	b.record(cfg, outcome, p.start, p.done)
	return false
}

// finish waits for p's outputs to be stored, then acks p's message; if one
// cannot be, the message is retried or dead-lettered as a failed handler's
// would be.
func (b *Bus) finish(ctx context.Context, cfg *ConsumerConfig, p *settling) {
	deadline := time.NewTimer(time.Until(p.start.Add(cfg.AckWait)))
	defer deadline.Stop()
	var err error
	for _, f := range p.futures {
		select {
		case <-f.Ok():
			continue
		case e := <-f.Err():
			err = fmt.Errorf("publish %s: %w", f.Msg().Subject, e)
		case <-deadline.C:
			err = fmt.Errorf("publish %s: no acknowledgement within %v", f.Msg().Subject, cfg.AckWait)
		}
		break
	}
	outcome := "acked"
	if err == nil {
		if err := p.m.Ack(); err != nil {
			b.log.Warn("ack", zap.String("consumer", cfg.Durable), zap.Error(err))
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, cfg.AckWait)
		outcome = b.failedPublish(ctx, cfg, p.m, p.ev, p.attempt, err)
		cancel()
	}
	b.record(cfg, outcome, p.start, p.done)
}

// record counts a settled message and tells Admit's caller.
func (b *Bus) record(cfg *ConsumerConfig, outcome string, start time.Time, done func()) {
	b.metrics.handled.WithLabelValues(cfg.Durable, outcome).Inc()
	b.metrics.duration.WithLabelValues(cfg.Durable).Observe(time.Since(start).Seconds())
	if done != nil {
		done()
	}
}

// meta is what a message's metadata says of it, parsed once per
// delivery for Admit and settle both.
type meta struct {
	attempt int
	stored  time.Time
	seq     uint64
}

func metaOf(m jetstream.Msg) meta {
	md, err := m.Metadata()
	if err != nil {
		return meta{attempt: 1, stored: time.Now()}
	}
	return meta{attempt: int(md.NumDelivered), stored: md.Timestamp, seq: md.Sequence.Stream}
}

// settle runs h on one message. When h's outputs are being published it
// returns them as a settling for finish; otherwise the message is settled
// already (acked, naked, or terminated after dead-lettering) and it says
// how. A message is never acked before what it produced is stored.
func (b *Bus) settle(ctx context.Context, cfg *ConsumerConfig, h Handler, m jetstream.Msg, md meta) (*settling, string) {
	ctx, cancel := context.WithTimeout(ctx, cfg.AckWait)
	defer cancel()
	attempt, stored, seq := md.attempt, md.stored, md.seq
	raw := &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
	var ev *event.Event
	var err error
	if !cfg.Raw {
		ev, err = Decode(raw)
	}
	if err != nil {
		var de *DecodeError
		code, field := CodeSchemaViolation, ""
		if errors.As(err, &de) {
			code, field = de.Code, de.Field
		}
		return nil, b.reject(ctx, cfg, m, nil, nil, Reject(code, err.Error(), field), attempt)
	}
	if attempt > cfg.MaxDeliver {
		// Delivered again and again without an outcome: the handler crashed
		// or timed out every time. Stop before it does again.
		r := Reject(CodeProcessingFailed, fmt.Sprintf("no outcome after %d deliveries", attempt-1), "")
		if ev == nil {
			ev, _ = Decode(raw) // nil when it cannot be: the rejection then names the message
		}
		return nil, b.reject(ctx, cfg, m, ev, nil, r, attempt)
	}
	outs, err := b.handle(ctx, cfg, h, &Delivery{Event: ev, Subject: m.Subject(), Header: m.Headers(), Size: len(m.Data()), Attempt: attempt, Stored: stored, Seq: seq, Data: m.Data()})
	if ev == nil && err != nil {
		// Raw: the rejection and the logs name the event when it has one.
		ev, _ = Decode(raw)
	}
	if r, ok := AsRejection(err); ok {
		return nil, b.reject(ctx, cfg, m, ev, outs, r, attempt)
	}
	if err != nil {
		return nil, b.failed(ctx, cfg, m, ev, attempt, err)
	}
	if len(outs) == 0 {
		if err := m.Ack(); err != nil {
			b.log.Warn("ack", zap.String("consumer", cfg.Durable), zap.Error(err))
		}
		return nil, "acked"
	}
	p := &settling{m: m, attempt: attempt, ev: ev}
	if g := outs[0].Guard; g != nil {
		f, err := b.js.PublishMsgAsync(g)
		if err != nil {
			return nil, b.failedPublish(ctx, cfg, m, ev, attempt, fmt.Errorf("publish %s: %w", g.Subject, err))
		}
		p.guard = f
		for _, o := range outs[1:] {
			p.after, p.ids = append(p.after, Encode(o.Subject, o.Event)), append(p.ids, MsgID(o.Event))
		}
		return p, ""
	}
	p.futures = make([]jetstream.PubAckFuture, len(outs))
	for i, o := range outs {
		f, err := b.js.PublishMsgAsync(Encode(o.Subject, o.Event), jetstream.WithMsgID(MsgID(o.Event)))
		if err != nil {
			return nil, b.failedPublish(ctx, cfg, m, ev, attempt, fmt.Errorf("publish %s: %w", o.Subject, err))
		}
		p.futures[i] = f
	}
	return p, ""
}

// handle runs h on d. A panic in h is recovered, counted and logged once
// with its stack, and the message is dead-lettered as processing_failed
// at once (the same input would only panic again): one bad event must not
// crash every service of the process.
func (b *Bus) handle(ctx context.Context, cfg *ConsumerConfig, h Handler, d *Delivery) (outs []Outgoing, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		b.metrics.panics.WithLabelValues(cfg.Durable).Inc()
		b.log.Error("handler panicked", zap.String("consumer", cfg.Durable), zap.String("subject", Bounded(d.Subject)),
			zap.String("id", idOf(d.Event)), zap.Int("attempt", d.Attempt), zap.String("panic", Bounded(fmt.Sprint(p))), zap.Stack("stack"))
		outs, err = nil, Reject(CodeProcessingFailed, "the hub failed on this event (an internal error, logged for its operators); it was dead-lettered", "")
	}()
	return h(ctx, d)
}

// failedPublish settles a message one of whose outputs could not be
// stored: when JetStream refused the output itself (headers over its 64
// KiB, a message over its size limit: attributes copied from the cause,
// usually), retrying cannot help and the message is rejected at once;
// otherwise it is a transient failure.
func (b *Bus) failedPublish(ctx context.Context, cfg *ConsumerConfig, m jetstream.Msg, ev *event.Event, attempt int, err error) string {
	if !Refused(err) {
		return b.failed(ctx, cfg, m, ev, attempt, err)
	}
	code, field := CodeTooLarge, ""
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jsErrCodeHeaderExceedsMaximum {
		code, field = CodeAttributeTooLarge, largestAttribute(ev)
	}
	return b.reject(ctx, cfg, m, ev, nil, Reject(code, "what this event produces cannot be stored: "+err.Error(), field), attempt)
}

// largestAttribute names ev's largest attribute or extension, the likely
// cause of headers too large to store; "" when ev is nil.
func largestAttribute(ev *event.Event) string {
	if ev == nil {
		return ""
	}
	name, size := "", 0
	Attributes(ev, func(header, value string) {
		if len(value) > size {
			name, size = strings.TrimPrefix(header, "ce-"), len(value)
		}
	})
	return Bounded(name)
}

// failed settles a message whose handling failed transiently: retried with
// backoff, or dead-lettered after its last attempt.
func (b *Bus) failed(ctx context.Context, cfg *ConsumerConfig, m jetstream.Msg, ev *event.Event, attempt int, err error) string {
	if attempt >= cfg.MaxDeliver {
		r := Reject(CodeProcessingFailed, fmt.Sprintf("failed %d times, last: %v", attempt, err), "")
		b.log.Error("giving up on message", zap.String("consumer", cfg.Durable), zap.String("subject", m.Subject()),
			zap.String("id", idOf(ev)), zap.Int("attempt", attempt), zap.Error(err))
		return b.reject(ctx, cfg, m, ev, nil, r, attempt)
	}
	b.log.Warn("retrying message", zap.String("consumer", cfg.Durable), zap.String("subject", m.Subject()),
		zap.String("id", idOf(ev)), zap.Int("attempt", attempt), zap.Error(err))
	b.nak(cfg, m, attempt)
	return "retried"
}

// idOf is ev's id for a log line, cut to logValueMax; "" for a message
// that is not an event.
func idOf(ev *event.Event) string {
	if ev == nil {
		return ""
	}
	return Bounded(ev.ID())
}

func (b *Bus) nak(cfg *ConsumerConfig, m jetstream.Msg, attempt int) {
	delay := cfg.Backoff[min(attempt, len(cfg.Backoff))-1]
	if err := m.NakWithDelay(delay); err != nil {
		b.log.Warn("nak", zap.String("consumer", cfg.Durable), zap.Error(err))
	}
}

// reject answers the sender (the handler's outputs, or an event.rejected),
// copies the original to the DLQ, then terminates it. Answers and letter
// are trimmed to what JetStream takes (fitOutput, fitLetter); an answer its
// full stream refuses is given up (the letter holds the reason). If they
// cannot be stored for a passing reason the message is naked, so nothing
// is lost; if JetStream refuses even the trimmed letter and a minimal one,
// or the passing reason outlasts twice the consumer's attempts, the message
// is terminated with one log line: it is never retried forever, holding a
// MaxAckPending slot of the lane.
func (b *Bus) reject(ctx context.Context, cfg *ConsumerConfig, m jetstream.Msg, ev *event.Event, outs []Outgoing, r *Rejection, attempt int) string {
	sender := SenderOf(ev, m.Subject())
	if len(outs) == 0 {
		rej, err := rejectionEvent(ev, m, cfg.Source, sender, r)
		if err != nil {
			b.log.Error("build rejection", zap.Error(err))
		} else {
			outs = []Outgoing{{Subject: sender.Subject("event.rejected"), Event: rej}}
		}
	}
	var unanswered error // the answer JetStream refused, even trimmed
	if len(outs) > 0 {
		msgs, ids := make([]*nats.Msg, len(outs)), make([]string, len(outs))
		for i, o := range outs {
			msgs[i], ids[i] = Encode(o.Subject, o.Event), MsgID(o.Event)
			fitOutput(msgs[i])
		}
		if _, err := b.publishMsgs(ctx, msgs, ids); err != nil {
			// A full XD_OUT passes only as its messages age out: waiting
			// on it would end in drop, losing the event, where the letter
			// (the DLQ drops its oldest instead of refusing) keeps it.
			if !Refused(err) && !StreamFull(err) {
				return b.retryLater(cfg, m, ev, r, attempt, fmt.Errorf("publish rejection: %w", err))
			}
			unanswered = err
		}
	}
	letter := DeadLetter(m, cfg.Letters, sender, r, attempt)
	fitLetter(letter, int(b.nc.MaxPayload()))
	err := b.publishLetter(ctx, letter)
	if err != nil && Refused(err) {
		err = b.publishLetter(ctx, minimalLetter(letter, minimalBody))
	}
	if err != nil {
		if Refused(err) {
			return b.drop(cfg, m, ev, r, attempt, fmt.Errorf("dead letter refused: %w", err))
		}
		return b.retryLater(cfg, m, ev, r, attempt, fmt.Errorf("dead-letter: %w", err))
	}
	if unanswered != nil {
		b.log.Warn("rejection not stored; the dead letter holds the reason", zap.String("consumer", cfg.Durable),
			zap.String("subject", Bounded(m.Subject())), zap.String("id", idOf(ev)), zap.String("code", r.Code()), zap.Error(unanswered))
	}
	if err := m.Term(); err != nil {
		b.log.Warn("term", zap.String("consumer", cfg.Durable), zap.Error(err))
	}
	if r.Code() == CodeProcessingFailed {
		return "dead_lettered"
	}
	return "rejected"
}

// minimalBody is how much of the original a letter of last resort keeps.
const minimalBody = 16 << 10

func (b *Bus) publishLetter(ctx context.Context, letter *nats.Msg) error {
	_, err := b.publishMsgs(ctx, []*nats.Msg{letter}, []string{letter.Header.Get(headerMsgID)})
	return err
}

// retryLater naks a message whose rejection or dead letter could not be
// stored for a passing reason (JetStream away, a timeout), until twice the
// consumer's attempts have passed; then it gives up on it (drop).
func (b *Bus) retryLater(cfg *ConsumerConfig, m jetstream.Msg, ev *event.Event, r *Rejection, attempt int, err error) string {
	if attempt >= 2*cfg.MaxDeliver {
		return b.drop(cfg, m, ev, r, attempt, err)
	}
	b.log.Warn("rejection not stored, retrying", zap.String("consumer", cfg.Durable), zap.String("subject", Bounded(m.Subject())),
		zap.String("id", idOf(ev)), zap.Int("attempt", attempt), zap.Error(err))
	b.nak(cfg, m, attempt)
	return "retried"
}

// drop terminates a message that can be stored nowhere, with one bounded
// log line: the consumer takes the next instead of waiting on it forever.
func (b *Bus) drop(cfg *ConsumerConfig, m jetstream.Msg, ev *event.Event, r *Rejection, attempt int, err error) string {
	b.log.Error("message dropped: neither its rejection nor its dead letter can be stored", zap.String("consumer", cfg.Durable),
		zap.String("subject", Bounded(m.Subject())), zap.String("id", idOf(ev)), zap.String("code", r.Code()),
		zap.Int("attempt", attempt), zap.String("error", Bounded(err.Error())))
	if err := m.TermWithReason("crossdock: cannot be stored anywhere: " + r.Code()); err != nil {
		b.log.Warn("term", zap.String("consumer", cfg.Durable), zap.Error(err))
	}
	return "dropped"
}

// RejectedData is the data of a crossdock.event.rejected.v1.
type RejectedData struct {
	RejectedID   string    `json:"rejected_id"`
	RejectedType string    `json:"rejected_type"`
	Errors       []Problem `json:"errors"`
}

// RejectionEvent builds the event.rejected answer to ev (which may be nil when
// the message could not be decoded; then its id is derived from fallbackID).
func RejectionEvent(ev *event.Event, fallbackID, source string, sender Sender, r *Rejection) (*event.Event, error) {
	data := RejectedData{Errors: boundProblems(r.Problems)}
	cause := event.New()
	if ev != nil {
		cause = ev.Clone() // not *ev: that shares its context, and so its extensions
		data.RejectedID, data.RejectedType = cut(ev.ID(), headerValueMax), cut(ev.Type(), headerValueMax)
	} else {
		cause.SetID(fallbackID)
	}
	if sender.Account != "" {
		cause.SetExtension(ExtAccount, sender.Account)
	}
	return NewEvent(&cause, Type("event.rejected"), "", source, data)
}

func rejectionEvent(ev *event.Event, m jetstream.Msg, source string, sender Sender, r *Rejection) (*event.Event, error) {
	fallback := m.Subject()
	if md, err := m.Metadata(); err == nil {
		fallback = md.Stream + ":" + strconv.FormatUint(md.Sequence.Stream, 10)
	}
	return RejectionEvent(ev, fallback, source, sender, r)
}

// DeadLetter copies the original message, bytes and headers, onto the
// sender's DLQ subject with the reason in Crossdock-Dlq-* headers, under a
// Nats-Msg-Id of its stream position and consumer (so a letter written twice
// is stored once). The original's JetStream headers (Nats-*) are left out.
// Consume writes a rejected message's letter with it; delivery, an
// undeliverable webhook's.
func DeadLetter(m jetstream.Msg, consumer string, sender Sender, r *Rejection, attempt int) *nats.Msg {
	md, err := m.Metadata()
	if err != nil {
		md = nil
	}
	return letter(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}, md, consumer, sender, r, attempt)
}

// RefusedLetter is the dead letter of a message refused before any stream
// stored it (the intake relay's): DeadLetter's, of a first attempt, under a
// Nats-Msg-Id made from its subject, headers and body, since it has no
// stream position (the same message refused twice is kept once).
func RefusedLetter(m *nats.Msg, consumer string, sender Sender, r *Rejection) *nats.Msg {
	return letter(m, nil, consumer, sender, r, 1)
}

// letter builds DeadLetter's and RefusedLetter's letter; md is nil for a
// message no stream stored.
func letter(m *nats.Msg, md *jetstream.MsgMetadata, consumer string, sender Sender, r *Rejection, attempt int) *nats.Msg {
	h := nats.Header{}
	for k, v := range m.Header {
		if hasPrefixFold(k, "Nats-") || hasPrefixFold(k, dlqPrefix) {
			// Instructions to JetStream (Nats-Expected-Stream, -Last-Sequence,
			// Nats-TTL, Nats-Rollup…) that would make it refuse the dead
			// letter, and a letter's own headers, which only the bus writes
			// (a client's would pass for the hub's).
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	h.Set(HeaderDLQCode, r.Code())
	h.Set(HeaderDLQErrors, problemsHeader(r.Problems))
	h.Set(HeaderDLQSubject, m.Subject)
	h.Set(HeaderDLQConsumer, consumer)
	h.Set(HeaderDLQAttempts, strconv.Itoa(attempt))
	h.Set(HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	if md != nil {
		h.Set(HeaderDLQStream, md.Stream)
		h.Set(HeaderDLQSequence, strconv.FormatUint(md.Sequence.Stream, 10))
		h.Set(headerMsgID, "dlq:"+md.Stream+":"+consumer+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	} else {
		h.Set(headerMsgID, "dlq:"+consumer+":"+contentDigest(m))
	}
	return &nats.Msg{Subject: sender.DLQSubject(r.Code()), Header: h, Data: m.Data}
}

// dlqPrefix begins the name of every header the bus writes on a letter.
const dlqPrefix = "Crossdock-Dlq-"

// IsLetterHeader reports whether a header of a dead letter is one the bus
// wrote (Crossdock-Dlq-*), not one copied from the original.
func IsLetterHeader(name string) bool { return hasPrefixFold(name, dlqPrefix) }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// contentDigest is a hex SHA-256 of m's subject, headers (sorted) and body.
func contentDigest(m *nats.Msg) string {
	sum := sha256.New()
	sum.Write([]byte(m.Subject))
	for _, k := range slices.Sorted(maps.Keys(m.Header)) {
		sum.Write([]byte(k + "\x00" + strings.Join(m.Header[k], "\x00") + "\x00"))
	}
	sum.Write(m.Data)
	return hex.EncodeToString(sum.Sum(nil))
}
