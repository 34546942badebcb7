package router

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
)

// The sweep guarantees that every intake event is routed or rejected,
// including those no lane is delivered: events of accounts the registry
// does not know (rejected, unknown_account) and events stored while a
// lane's filter was growing, before the lane covered them. Until
// 2026-12-02 it was a durable consumer of xd.in.>, delivered every intake
// event a second time to acknowledge almost all of them at once. Now it
// keeps a position in XD_IN instead (sweepDurable's metadata) and, twice
// a second, looks at what was stored since: for each intake subject of
// the stream, the lanes' followers say from which sequence a lane covers
// it, and the sweep reads (bus.Catchup) only the events no lane covers,
// usually none. Every event after the position is judged in one pass
// that completes before the position moves past it, so none is skipped;
// one judged twice (after a crash, or by two processes) is routed twice,
// which is harmless (same Nats-Msg-Id; a service of this process that it
// is handed to twice finds its own writes and answers under the same
// ids), or rejected under the same ids. Within a process, a lane and the
// sweep never both handle an event (claims.go).

const (
	// sweepDurable is the consumer whose metadata holds the sweep's
	// position. It is the durable consumer the sweep used to be, so that
	// the first run of this code starts from what that one acknowledged;
	// its filter is now a subject nothing is published on.
	sweepDurable = "router"
	// metadataSwept is the metadata key of the position: every intake
	// event at or before it has been routed, rejected, or left to a lane
	// that covers it.
	metadataSwept = "crossdock_swept"
	// sweepEvery is how often the sweep looks at new events: how long an
	// event of an unknown account waits for its rejection, at most.
	sweepEvery = 500 * time.Millisecond
	// saveEvery is how often the position is written; after a crash the
	// sweep judges again at most what this much time stored.
	saveEvery = 5 * time.Second
)

// runSweep sweeps XD_IN until ctx ends.
func (s *Service) runSweep(ctx context.Context) error {
	js := s.bus.JetStream()
	var pos uint64
	err := bus.Retry{Timeout: 10 * time.Second}.Do(ctx, func(ctx context.Context) (err error) {
		pos, err = s.sweepStart(ctx, js)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	saved, savedAt := pos, time.Now()
	attempts := map[uint64]int{}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if pos != saved {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := s.sweepSave(sctx, js, pos); err != nil {
					s.log.Warn("sweep position", zap.Error(err))
				}
			}
			return nil
		case <-t.C:
		}
		next, err := s.sweepOnce(ctx, pos, attempts)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("sweep", zap.Uint64("from", pos), zap.Error(err))
			}
			continue
		}
		pos = max(pos, next)
		if pos != saved && time.Since(savedAt) >= saveEvery {
			if err := s.sweepSave(ctx, js, pos); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("sweep position", zap.Error(err))
				}
				continue
			}
			saved, savedAt = pos, time.Now()
		}
	}
}

// sweepStart reads the sweep's position, creating its consumer when there
// is none (from the start of the stream). A consumer that is still the old
// durable sweep is replaced by one on a filter nothing is published on,
// from the last event the old one acknowledged (what it held unacknowledged
// would otherwise stay pending on it).
func (s *Service) sweepStart(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	var pos uint64
	c, err := js.Consumer(ctx, bus.StreamIn, sweepDurable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return 0, err
	default:
		info := c.CachedInfo()
		if v, ok := info.Config.Metadata[metadataSwept]; ok {
			return strconv.ParseUint(v, 10, 64)
		}
		pos = info.AckFloor.Stream
		if err := js.DeleteConsumer(ctx, bus.StreamIn, sweepDurable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return 0, err
		}
		s.log.Info("sweep replaces the old durable sweep", zap.Uint64("from", pos))
	}
	_, err = js.CreateConsumer(ctx, bus.StreamIn, sweepConsumer(pos))
	return pos, err
}

// sweepConsumer is the configuration of the consumer that holds the
// sweep's position pos: it is delivered nothing.
func sweepConsumer(pos uint64) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable: sweepDurable, FilterSubjects: []string{noAccounts}, AckPolicy: jetstream.AckExplicitPolicy,
		Metadata: map[string]string{metadataSwept: strconv.FormatUint(pos, 10)},
	}
}

// sweepSave writes the sweep's position; a consumer deleted under it
// (an operator's mistake) is made again, with the position.
func (s *Service) sweepSave(ctx context.Context, js jetstream.JetStream, pos uint64) error {
	c, err := js.Consumer(ctx, bus.StreamIn, sweepDurable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		_, err = js.CreateConsumer(ctx, bus.StreamIn, sweepConsumer(pos))
		return err
	}
	if err != nil {
		return err
	}
	cfg := c.CachedInfo().Config
	cfg.Metadata = maps.Clone(cfg.Metadata)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	cfg.Metadata[metadataSwept] = strconv.FormatUint(pos, 10)
	_, err = js.UpdateConsumer(ctx, bus.StreamIn, cfg)
	return err
}

// sweepOnce routes or rejects the intake events stored after from that no
// lane covers, and returns the sequence through which every event is
// judged.
func (s *Service) sweepOnce(ctx context.Context, from uint64, attempts map[uint64]int) (uint64, error) {
	for _, l := range s.lanes {
		if !l.follow.Seen() {
			return from, nil // a lane not yet started covers nothing: wait for it
		}
	}
	st, err := s.bus.JetStream().Stream(ctx, bus.StreamIn)
	if err != nil {
		return from, err
	}
	to := st.CachedInfo().State.LastSeq
	if to <= from {
		return from, nil
	}
	// Listed after the last sequence was read: every subject with an event
	// at or before it is in the list.
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(bus.AllIn))
	if err != nil {
		return from, err
	}
	need := map[string]uint64{} // filter → the last sequence on it no lane covers
	for subject := range info.State.Subjects {
		key := sweepKey(subject)
		if _, ok := need[key]; ok {
			continue
		}
		upto := to
		for _, l := range s.lanes {
			if since, ok := l.follow.Since(key); ok {
				upto = min(upto, since)
			}
		}
		if upto > from {
			need[key] = upto
		}
	}
	if len(need) == 0 {
		return to, nil
	}
	cfg := bus.ConsumerConfig{
		Stream:   bus.StreamIn,
		Durable:  sweepDurable,
		Subjects: slices.Sorted(maps.Keys(need)),
		Source:   "/crossdock/router",
		Raw:      true,
	}
	return s.bus.Catchup(ctx, cfg, from, to, attempts, func(subject string, seq uint64) bool {
		return seq <= need[sweepKey(subject)]
	}, s.sweep)
}

// sweepKey is the filter the sweep reads a subject of XD_IN by: its lane
// filter, or the subject itself for one no lane filter can match (an
// intake subject without an event name).
func sweepKey(subject string) string {
	if key := filterKey(subject); key != "" {
		return key
	}
	return subject
}
