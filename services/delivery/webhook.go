package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
)

// Headers a delivery dead letter carries beside bus's Crossdock-Dlq-*.
const (
	HeaderDLQResponse = "Crossdock-Dlq-Response" // the endpoint's last answer: "HTTP 400 …" or "no response: …"
	HeaderDLQEndpoint = "Crossdock-Dlq-Endpoint" // the webhook URL, without password or query
)

// stream delivers an endpoint's events in real time until ctx ends.
//
// Each endpoint has its own durable consumer on XD_OUT, filtered on its
// subjects, with MaxAckPending 1. Why one consumer per endpoint rather than
// one for all with per-account queues in the process:
//
//   - order: the server hands out the next event only when the previous one
//     is acked, so events arrive in stream order even across processes and
//     restarts, with no reordering logic here;
//   - isolation: an endpoint that is slow, down or answering 429 holds only
//     its own consumer; every other endpoint's consumer keeps moving, and a
//     shared consumer's MaxAckPending can never be filled by one account;
//   - state: the position of each endpoint lives in JetStream (the ack
//     floor), so a restart resumes exactly where delivery stopped and a
//     second process running delivery shares the work instead of repeating it.
//
// The price is one consumer per webhook, which JetStream handles in the
// thousands; accounts without a webhook cost nothing.
func (s *Service) stream(ctx context.Context, sp spec) error {
	ep := sp.Endpoint
	cfg := jetstream.ConsumerConfig{
		Durable:       ep.Durable(),
		Description:   "webhook delivery to " + ep.Name(),
		FilterSubject: ep.Subject(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: 1,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := s.js.Consumer(ctx, bus.StreamOut, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		// A new endpoint starts after what its digests already sent (an
		// account moving from batched to realtime), else from the start.
		seq, err := s.position(ctx, ep)
		if err != nil {
			return err
		}
		if seq > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
		}
		cons, err = s.js.CreateConsumer(ctx, bus.StreamOut, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			cons, err = s.js.Consumer(ctx, bus.StreamOut, cfg.Durable)
		}
		if err != nil {
			return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
		}
	case err != nil:
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	default:
		if err := s.skipDigested(ctx, ep, cons); err != nil {
			return err
		}
	}
	// One message at a time, fetched with a short wait rather than through
	// a long-lived pull: a fetch that returned a message is always handled,
	// so shutdown never strands a delivered-but-unhandled message until
	// AckWait, at the cost of one idle pull a second per endpoint.
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if err := stopped(ctx, cons, err); err != nil {
				return err // reconcile starts the worker again, with a new consumer
			}
			s.log.Warn("delivery fetch", zap.String("endpoint", ep.Name()), zap.Error(err))
			if !sleep(ctx, time.Second, nil) {
				return nil
			}
			continue
		}
		for m := range batch.Messages() {
			if !s.current(sp) {
				_ = m.Nak() // for the worker with the new settings
				return errChanged
			}
			s.deliver(ctx, ep, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			if err := stopped(ctx, cons, err); err != nil {
				return err
			}
			s.log.Warn("delivery fetch", zap.String("endpoint", ep.Name()), zap.Error(err))
			if !sleep(ctx, time.Second, nil) {
				return nil
			}
		}
	}
	return nil
}

// stopped returns the error that ends a worker whose consumer is gone, or
// nil when a fetch failed for a passing reason. A fetch pending when the
// consumer is deleted is told so (consumer deleted); one made after it gets
// only "no responders", which a server without JetStream for a moment gives
// as well, so that is checked against the server: without the check a
// worker whose consumer was deleted between two fetches would never
// recreate it.
func stopped(ctx context.Context, cons jetstream.Consumer, err error) error {
	if bus.ConsumerStopped(err) {
		return err
	}
	if errors.Is(err, nats.ErrNoResponders) {
		if _, ierr := cons.Info(ctx); errors.Is(ierr, jetstream.ErrConsumerNotFound) {
			return ierr
		}
	}
	return nil
}

// skipDigested moves an existing consumer past what digests sent while the
// account was batched: it is recreated to start after the digest cursor.
func (s *Service) skipDigested(ctx context.Context, ep Endpoint, cons jetstream.Consumer) error {
	if ep.Account == "" {
		return nil
	}
	cur, _, err := s.cursor(ctx, ep.Account)
	if err != nil || cur == nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", ep.Durable(), err)
	}
	if info.AckFloor.Stream >= cur.Seq {
		return nil
	}
	if err := s.js.DeleteConsumer(ctx, bus.StreamOut, ep.Durable()); err != nil {
		return fmt.Errorf("reposition consumer %s: %w", ep.Durable(), err)
	}
	return errRestart
}

// errRestart makes reconcile start a worker again (after repositioning).
var errRestart = errors.New("consumer repositioned")

// errChanged stops a worker whose endpoint changed or went; reconcile starts
// the new one.
var errChanged = errors.New("endpoint changed")

// deliver POSTs one message and settles it: ack when delivered, dead letter
// then term when refused or out of retries, nak when interrupted by
// shutdown (the next process delivers it).
func (s *Service) deliver(ctx context.Context, ep Endpoint, m jetstream.Msg) {
	ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	if err != nil {
		// The hub wrote it, so this is a bug somewhere; keep it for operators.
		s.deadLetter(ctx, ep, m, bus.CodeSchemaViolation, "not a CloudEvent: "+err.Error(), Outcome{})
		return
	}
	start := time.Now()
	out := s.sender.Deliver(ctx, ep, BinaryPayload(ev), func() { _ = m.InProgress() })
	s.m.duration.Observe(time.Since(start).Seconds())
	switch {
	case out.Delivered:
		// Acked synchronously: a lost ack would deliver the event again.
		// The position moves even when the ack fails: the endpoint has the
		// event, and an ack fails when the consumer was deleted under the
		// delivery, whose successor must start after it.
		s.m.deliveries.WithLabelValues("delivered").Inc()
		s.noteSettled(ep, m)
		if err := m.DoubleAck(context.WithoutCancel(ctx)); err != nil {
			s.log.Warn("ack delivered event", zap.String("endpoint", ep.Name()), zap.String("id", ev.ID()), zap.Error(err))
		}
		if ce := s.log.Check(zap.DebugLevel, "delivered"); ce != nil {
			ce.Write(zap.String("endpoint", ep.Name()), zap.String("id", ev.ID()), zap.Int("attempts", out.Attempts), zap.Duration("took", time.Since(start)))
		}
	case out.Interrupted:
		s.m.deliveries.WithLabelValues("interrupted").Inc()
		_ = m.Nak()
	default:
		msg := fmt.Sprintf("%s after %d attempt(s)", out.Last, out.Attempts)
		if out.Permanent {
			msg = fmt.Sprintf("refused with %s; not retried", out.Last)
		}
		s.log.Warn("event not delivered, dead-lettered", zap.String("endpoint", ep.Name()), zap.String("id", ev.ID()),
			zap.Int("attempts", out.Attempts), zap.Int("status", out.Last.Status))
		s.m.deliveries.WithLabelValues("dead_lettered").Inc()
		s.deadLetter(ctx, ep, m, bus.CodeDeliveryFailed, msg, out)
	}
}

// deadLetter copies m, headers and bytes, to the endpoint's DLQ subject with
// the bus's Crossdock-Dlq-* headers and the last response, then terms it. If
// the copy cannot be stored the message is naked, so nothing is lost.
func (s *Service) deadLetter(ctx context.Context, ep Endpoint, m jetstream.Msg, code, message string, out Outcome) {
	dl := DeadLetterOf(m, ep, code, message, out)
	if _, err := s.js.PublishMsg(context.WithoutCancel(ctx), dl, jetstream.WithMsgID(dl.Header.Get("Nats-Msg-Id"))); err != nil {
		s.log.Warn("dead-letter", zap.String("endpoint", ep.Name()), zap.Error(err))
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	if err := m.Term(); err != nil {
		s.log.Warn("term", zap.String("endpoint", ep.Name()), zap.Error(err))
		return
	}
	s.noteSettled(ep, m)
}

// noteSettled records m as the endpoint's last settled event (position).
func (s *Service) noteSettled(ep Endpoint, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.settled[ep.Durable()] = max(s.settled[ep.Durable()], md.Sequence.Stream)
	s.mu.Unlock()
}

// DeadLetterOf builds the dead letter of an undeliverable message: the bus's
// letter (bus.DeadLetter) on xd.dlq.<account>.<code> (or
// xd.dlq.wh.<warehouse>.<code>), plus the endpoint and its last response.
func DeadLetterOf(m jetstream.Msg, ep Endpoint, code, message string, out Outcome) *nats.Msg {
	letter := bus.DeadLetter(m, ep.Durable(), ep.Sender(), bus.Reject(code, message, ""), out.Attempts)
	letter.Header.Set(HeaderDLQEndpoint, ep.redactedURL())
	if out.Attempts > 0 {
		letter.Header.Set(HeaderDLQResponse, truncate(out.Last.String(), 1024))
	}
	return letter
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
