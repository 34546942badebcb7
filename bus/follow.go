package bus

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Follower keeps a durable consumer's filter in step with a set of subjects
// that changes while the hub runs: the answers of the accounts that ask for
// EDI, the intake of the accounts in a router lane. Give one to
// ConsumerConfig.Follow; Consume creates the consumer on what Want gives and
// asks again every second.
type Follower struct {
	// Want gives the filter the consumer should have now. It must never be
	// empty (an empty filter takes every subject): name a subject of the
	// stream that nothing is published on instead. A subject added later is
	// delivered from then on, not from the start of the stream.
	Want func() []string
	// Handover is for a consumer with a sweep beside it, a consumer of every
	// subject that handles what the followed one does not (the router's
	// lanes). A subject no longer wanted then stays in the filter until the
	// consumer has delivered and acknowledged everything it had, and the
	// stream sequence after which an added subject is in effect is recorded
	// in the consumer's metadata, so that Covers can tell the sweep which
	// messages are the consumer's. The consumer is read four times a second.
	Handover bool
	// Idle, with Handover, is the subject Want gives when it wants nothing
	// (one nothing is published on): it is dropped at once when others
	// come, since no message can be waiting on it.
	Idle string

	view    atomic.Pointer[followView]
	leaving map[string]bool // subjects no longer wanted, kept until drained (Handover)
}

// followView is what the follower last read or wrote of its consumer.
type followView struct {
	filters map[string]bool
	since   uint64 // 0: unknown, the consumer covers nothing (Handover)
	drained bool   // nothing pending or unacknowledged
	config  jetstream.ConsumerConfig
}

// metadataSince is the consumer metadata key holding the stream sequence
// after which the consumer's filter has been in effect (Handover).
const metadataSince = "crossdock_since"

// Covers reports whether the followed consumer is delivered a message
// stored at seq on a subject that filter (one of Want's subjects) matches:
// the filter is the consumer's, and was before the message was stored. It
// is false until the follower has recorded when the filter took effect
// (Handover only).
func (f *Follower) Covers(filter string, seq uint64) bool {
	since, ok := f.Since(filter)
	return ok && seq > since
}

// Since reports the stream sequence after which the followed consumer is
// delivered every message on filter (one of Want's subjects): Covers is
// true for the messages stored after it. ok is false while the consumer
// covers none of them (Handover only).
func (f *Follower) Since(filter string) (since uint64, ok bool) {
	v := f.view.Load()
	if v == nil || !v.filters[filter] || v.since == 0 {
		return 0, false
	}
	return v.since, true
}

// Seen reports whether the follower has read its consumer yet: until it
// has, Since and Covers know nothing of it.
func (f *Follower) Seen() bool { return f.view.Load() != nil }

// see records what info says of the consumer.
func (f *Follower) see(info *jetstream.ConsumerInfo) {
	v := &followView{filters: map[string]bool{}, drained: info.NumPending == 0 && info.NumAckPending == 0, config: info.Config}
	for _, s := range info.Config.FilterSubjects {
		v.filters[s] = true
	}
	if info.Config.FilterSubject != "" {
		v.filters[info.Config.FilterSubject] = true
	}
	v.since, _ = strconv.ParseUint(info.Config.Metadata[metadataSince], 10, 64)
	f.view.Store(v)
}

// run keeps cons's filter equal to Want until ctx ends. Every process
// running the consumer does the same; they write the same filter.
func (f *Follower) run(ctx context.Context, b *Bus, stream string, cons jetstream.Consumer) {
	f.see(cons.CachedInfo())
	f.leaving = map[string]bool{}
	durable := cons.CachedInfo().Name
	tick := time.Second
	if f.Handover {
		tick = 250 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var reconciled time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if f.Handover {
			if c, err := b.js.Consumer(ctx, stream, durable); err == nil {
				f.see(c.CachedInfo())
			} // else NATS is away: keep the last view
		}
		if time.Since(reconciled) < time.Second-tick/2 {
			continue
		}
		reconciled = time.Now()
		if err := f.reconcile(ctx, b, stream); err != nil && ctx.Err() == nil {
			b.log.Warn("consumer filter", zap.String("consumer", durable), zap.Error(err))
		}
	}
}

// reconcile brings the consumer's filter in step with Want: subjects new
// to it are added at once, subjects no longer wanted removed (with
// Handover, once the consumer is drained, and with the since sequence moved
// past an addition).
func (f *Follower) reconcile(ctx context.Context, b *Bus, stream string) error {
	v := f.view.Load()
	want := f.Want()
	if len(want) == 0 {
		return nil
	}
	next := map[string]bool{}
	added := false
	for _, s := range want {
		next[s] = true
		added = added || !v.filters[s]
	}
	if f.Handover {
		for s := range v.filters {
			switch {
			case next[s]:
				delete(f.leaving, s)
			case f.leaving[s] && v.drained:
				delete(f.leaving, s)
			default:
				f.leaving[s] = true
				next[s] = true
			}
		}
		if len(next) > 1 && f.Idle != "" {
			delete(next, f.Idle)
		}
	}
	filters := slices.Sorted(maps.Keys(next))
	if slices.Equal(filters, slices.Sorted(maps.Keys(v.filters))) && (v.since != 0 || !f.Handover) {
		return nil
	}
	cfg := v.config
	cfg.FilterSubject, cfg.FilterSubjects = "", filters
	if f.Handover {
		cfg.Metadata = maps.Clone(cfg.Metadata)
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		if added || v.since == 0 {
			// Until the filter is in effect and the stream's last sequence
			// is read, the consumer covers nothing for the sweep.
			delete(cfg.Metadata, metadataSince)
			if _, err := b.js.UpdateConsumer(ctx, stream, cfg); err != nil {
				return err
			}
			st, err := b.js.Stream(ctx, stream)
			if err != nil {
				return err
			}
			cfg.Metadata[metadataSince] = strconv.FormatUint(max(st.CachedInfo().State.LastSeq, 1), 10)
		}
	}
	cons, err := b.js.UpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return err
	}
	f.see(cons.CachedInfo())
	b.log.Info("consumer filter", zap.String("consumer", cfg.Durable), zap.Int("subjects", len(filters)), zap.String("since", cfg.Metadata[metadataSince]))
	return nil
}
