package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// From is where a Scan starts: a stream sequence, or the first message
// stored at or after a time when Time is set.
type From struct {
	Seq  uint64
	Time time.Time
}

// Scan reads the messages of stream on the filter subjects that are there
// when it starts, from the given position, in stream order, and calls fn
// with each and its stream sequence until fn returns false. It reads through
// an ordered (ephemeral) consumer, so it changes no one's position: digests
// and replays read XD_OUT without disturbing the durable consumers.
func Scan(ctx context.Context, js jetstream.JetStream, stream string, filters []string, from From, fn func(m jetstream.Msg, seq uint64) bool) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverAllPolicy}
	switch {
	case !from.Time.IsZero():
		t := from.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	case from.Seq > 1:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from.Seq
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	left := info.NumPending + uint64(info.NumAckPending)
	for left > 0 {
		batch, err := cons.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			left--
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("read %s: %w", stream, err)
			}
			if !fn(m, md.Sequence.Stream) {
				for range batch.Messages() {
				}
				return nil
			}
			if left == 0 {
				break
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if n == 0 {
			return fmt.Errorf("read %s: no messages within 5s, %d expected", stream, left)
		}
	}
	return nil
}
