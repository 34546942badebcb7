package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// From is where a Scan starts: a stream sequence, or the first message
// stored at or after a time when Time is set.
type From struct {
	Seq  uint64
	Time time.Time
}

// scanStalls bounds how many times in a row a Scan restarts without reading
// a message before it gives up.
const scanStalls = 6

// Scan reads the messages of stream on the filter subjects that are there
// when it starts, from the given position, in stream order, and calls fn
// with each and its stream sequence until fn returns false. It reads through
// an ordered (ephemeral) consumer, so it changes no one's position: DLQ
// listings, digests and replays read without disturbing the durable
// consumers.
//
// On a cluster a read can fail for a moment: the ephemeral consumer's
// interest has not yet reached the server the client is connected to (no
// responders), its leader moves, a fetch times out. Scan then starts a new
// consumer after the last message it handed to fn, so fn sees every message
// once; it gives up after a few restarts in a row that read nothing, or on
// an error that is not Transient.
func Scan(ctx context.Context, js jetstream.JetStream, stream string, filters []string, from From, fn func(m jetstream.Msg, seq uint64) bool) error {
	var last uint64
	err := retry.Do(ctx, func(ctx context.Context) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		last = s.CachedInfo().State.LastSeq
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if last == 0 {
		return nil
	}
	sc := scan{js: js, stream: stream, filters: filters, last: last, from: from, fn: fn}
	pause := 100 * time.Millisecond
	for stalls := 0; ; {
		read, err := sc.run(ctx)
		if err == nil {
			return nil
		}
		if !Transient(err) || ctx.Err() != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if read > 0 {
			stalls, pause = 0, 100*time.Millisecond
		}
		if stalls++; stalls >= scanStalls {
			return fmt.Errorf("read %s: %w (%d tries)", stream, err, stalls)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("read %s: %w", stream, ctx.Err())
		case <-time.After(pause/2 + rand.N(pause/2+1)):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// scan is one Scan's position, kept across the consumers it restarts.
type scan struct {
	js      jetstream.JetStream
	stream  string
	filters []string
	last    uint64 // the stream's last sequence when the scan began
	from    From   // where the next consumer starts
	fn      func(m jetstream.Msg, seq uint64) bool
}

// errStalled is a fetch that returned nothing although messages were
// pending: retried as a timeout.
var errStalled = fmt.Errorf("no messages within 5s although some are pending: %w", nats.ErrTimeout)

// run reads with one ordered consumer until the scan is done (nil) or a
// read fails; it returns how many messages it handed to fn.
func (sc *scan) run(ctx context.Context) (int, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sc.filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case !sc.from.Time.IsZero():
		t := sc.from.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	case sc.from.Seq > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, sc.from.Seq
	}
	if sc.from.Seq > sc.last {
		return 0, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := sc.js.OrderedConsumer(callCtx, sc.stream, cfg)
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(callCtx)
	if err != nil {
		return 0, err
	}
	left := info.NumPending + uint64(info.NumAckPending)
	read := 0
	for left > 0 {
		batch, err := cons.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return read, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return read, err
			}
			seq := md.Sequence.Stream
			if seq > sc.last {
				drain(batch)
				return read, nil
			}
			read++
			sc.from = From{Seq: seq + 1}
			if !sc.fn(m, seq) || md.NumPending == 0 || seq == sc.last {
				drain(batch)
				return read, nil
			}
			left = md.NumPending
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return read, err
		}
		if n == 0 {
			return read, errStalled
		}
	}
	return read, nil
}

func drain(batch jetstream.MessageBatch) {
	for range batch.Messages() {
	}
}
