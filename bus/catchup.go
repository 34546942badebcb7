package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Catchup settles, in stream order, the messages of cfg.Stream on
// cfg.Subjects stored after sequence from and up to to, for which want
// (when not nil) is true: h decides each as a Consume handler would, and
// its outputs are stored, its rejections answered and dead-lettered under
// cfg.Durable's name, as Consume does. It reads through a short-lived
// consumer that acknowledges nothing, for a caller that keeps its own
// position in the stream instead of a durable consumer delivered every
// message (the router's sweep, which reads only what no lane covers).
//
// It returns the sequence through which every message is settled: to, or
// one before the first message whose handling failed transiently, from
// which the caller tries again. attempts counts the failures of such
// messages between calls, so that one that keeps failing is dead-lettered
// after cfg.MaxDeliver attempts, as Consume would; Catchup keeps it.
func (b *Bus) Catchup(ctx context.Context, cfg ConsumerConfig, from, to uint64, attempts map[uint64]int, want func(subject string, seq uint64) bool, h Handler) (uint64, error) {
	if to <= from || len(cfg.Subjects) == 0 {
		return max(from, to), nil
	}
	cfg.defaults(b.ackWait, b.backoff)
	cons, err := b.js.CreateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		FilterSubjects:    cfg.Subjects,
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from + 1,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return from, fmt.Errorf("catch up on %s: %w", cfg.Stream, err)
	}
	defer func() {
		// Deleted at once so that it does not hold the stream's interest;
		// if this fails the server deletes it after InactiveThreshold.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, cfg.Stream, cons.CachedInfo().Name)
	}()
	workCtx := context.WithoutCancel(ctx)
	failed := uint64(0) // the first message that failed transiently
	remaining := cons.CachedInfo().NumPending
	for remaining > 0 && ctx.Err() == nil {
		batch, err := cons.Fetch(int(min(remaining, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return from, fmt.Errorf("catch up on %s: %w", cfg.Stream, err)
		}
		var waiting []*catching
		var pending []*settling
		n, past := uint64(0), false
		for m := range batch.Messages() {
			n++
			md := metaOf(m)
			if past || md.seq > to {
				past = true
				continue
			}
			if want != nil && !want(m.Subject(), md.seq) {
				continue
			}
			md.attempt = attempts[md.seq] + 1
			c := &catching{Msg: m, seq: md.seq}
			start := time.Now()
			p, outcome := b.settle(workCtx, &cfg, h, c, md)
			if p == nil {
				b.record(&cfg, outcome, start, nil)
			} else if p.start = start; p.guard == nil || b.afterGuard(workCtx, &cfg, p) {
				// The batch's outputs are published before any is waited on.
				pending = append(pending, p)
			}
			waiting = append(waiting, c)
		}
		for _, p := range pending {
			b.finish(workCtx, &cfg, p)
		}
		if err := batch.Error(); err != nil && n == 0 {
			return from, fmt.Errorf("catch up on %s: %w", cfg.Stream, err)
		}
		for _, c := range waiting {
			if c.retry {
				attempts[c.seq]++
				if failed == 0 {
					failed = c.seq
				}
			}
		}
		if past || n == 0 {
			break
		}
		remaining -= min(n, remaining)
	}
	done := to
	if failed != 0 {
		done = failed - 1
	} else if ctx.Err() != nil {
		return from, ctx.Err()
	}
	for seq := range attempts {
		if seq <= done {
			delete(attempts, seq)
		}
	}
	return done, nil
}

// catching is a message Catchup settles: the acknowledgements Consume's
// settling sends the server say here whether it needs another attempt.
type catching struct {
	jetstream.Msg
	seq   uint64
	retry bool
}

func (c *catching) Ack() error                       { return nil }
func (c *catching) DoubleAck(context.Context) error  { return nil }
func (c *catching) Term() error                      { return nil }
func (c *catching) TermWithReason(string) error      { return nil }
func (c *catching) InProgress() error                { return nil }
func (c *catching) Nak() error                       { c.retry = true; return nil }
func (c *catching) NakWithDelay(time.Duration) error { c.retry = true; return nil }
