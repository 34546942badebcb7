package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketStream is the stream in which JetStream keeps KV bucket name.
func BucketStream(name string) string { return "KV_" + name }

// BucketRead says which revisions of a bucket's keys ReadBucket gives.
type BucketRead struct {
	// Keys selects the keys, with NATS wildcards ("po.acme.>"); empty
	// means every key.
	Keys string
	// All gives every revision the bucket keeps, in the order written; by
	// default only the latest revision of each key is given.
	All bool
	// Since, when set, gives the revisions written at or after it (every
	// one, in the order written), so a read costs what was written since.
	Since time.Time
	// Batch is how many messages are pulled ahead of fn; zero means 256.
	Batch int
}

// Entry is one revision of a key as ReadBucket gives it.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	// Deleted marks a delete or purge: the key has no value from here on.
	Deleted bool
	// Late is a revision written after the read began: the key moved
	// while it was read, and this is where it moved to.
	Late bool
}

// ReadBucket calls fn with the revisions of bucket's keys that r selects,
// until it has caught up with what is written or fn returns an error. It
// reads the bucket's stream in batches through an ordered consumer (one
// request a batch, not one a key), so it changes no one's position, and a
// million keys never flood the connection: the scorecard's order listings,
// VMI's scheduled runs and forecast accuracy all read buckets this way.
func ReadBucket(ctx context.Context, js jetstream.JetStream, bucket string, r BucketRead, fn func(Entry) error) error {
	prefix := "$KV." + bucket + "."
	filter := prefix + ">"
	if r.Keys != "" {
		filter = prefix + r.Keys
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 256
	}
	stream := BucketStream(bucket)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
	}
	// The newest revision the keys have now: none means nothing to read (an
	// ordered consumer would wait for one), and what comes after it is late.
	newest, err := st.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
	}
	if !r.Since.IsZero() && newest.Time.Before(r.Since) {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy}
	switch {
	case !r.Since.IsZero():
		since := r.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	case r.All:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
	}
	// One iterator for the whole read: an ordered consumer's Fetch would
	// recreate the consumer, and the server count its pending messages
	// again, every batch.
	it, err := cons.Messages(jetstream.PullMaxMessages(batch))
	if err != nil {
		return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
		}
		op := m.Headers().Get("KV-Operation")
		err = fn(Entry{
			Key:      strings.TrimPrefix(m.Subject(), prefix),
			Value:    m.Data(),
			Revision: md.Sequence.Stream,
			Deleted:  op == "DEL" || op == "PURGE",
			Late:     md.Sequence.Stream > newest.Sequence,
		})
		if err != nil {
			return err
		}
		if md.NumPending == 0 {
			// The server counts a consumer's pending messages apart from
			// storing them (it signals consumers from a queue), so under
			// load a message can say none is pending while a write
			// acknowledged before it was delivered is not counted yet: the
			// last revision of the keys says whether the read caught up.
			last, err := st.GetLastMsgForSubject(ctx, filter)
			if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && last.Sequence <= md.Sequence.Stream {
				return nil // caught up
			}
			if err != nil {
				return fmt.Errorf("read %s %s: %w", bucket, r.Keys, err)
			}
		}
	}
}
