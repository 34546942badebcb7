package bus

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Outgoing is an event to publish and the subject to publish it on.
type Outgoing struct {
	Subject string
	Event   *event.Event
	// Key, when set, is the Nats-Msg-Id to store the event under instead of
	// MsgID(Event): the gateway's intake key, scoped by the sender.
	Key string
	// Guard, when set (as the first of a handler's outputs, with no Event),
	// is a write the other outputs wait on: Consume publishes it without
	// waiting, and the rest only once JetStream has stored it, so a worker
	// never waits for a round trip. Its Nats-Expected-* headers (KVCreate's)
	// make JetStream refuse it when the state it assumes has changed; the
	// message is then redelivered at once, and the handler, seeing Attempt
	// above 1, decides again from what is stored. Handlers that return a
	// Guard therefore write synchronously on every later attempt, and do not
	// return one with a Rejection.
	Guard *nats.Msg
}

// KVCreate is a write of value at key in bucket that JetStream stores only
// if the key has no revision yet (what KeyValue.Create sends, without
// waiting for the answer): a Guard for a decision that must be written
// once.
func KVCreate(bucket, key string, value []byte) *nats.Msg {
	h := nats.Header{}
	h.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	return &nats.Msg{Subject: "$KV." + bucket + "." + key, Header: h, Data: value}
}

// Publish stores every event in JetStream, in order, and returns once all are
// acknowledged (durable), or the first error. Each is published with its
// account-scoped id as Nats-Msg-Id, so publishing the same events again (a
// retry, a redelivered cause) stores nothing twice. It returns the number of
// events JetStream had already stored (duplicates).
func (b *Bus) Publish(ctx context.Context, outs ...Outgoing) (duplicates int, err error) {
	msgs := make([]*nats.Msg, len(outs))
	ids := make([]string, len(outs))
	for i, o := range outs {
		msgs[i], ids[i] = Encode(o.Subject, o.Event), MsgID(o.Event)
		if o.Key != "" {
			ids[i] = o.Key
		}
	}
	return b.publishMsgs(ctx, msgs, ids)
}

func (b *Bus) publishMsgs(ctx context.Context, msgs []*nats.Msg, ids []string) (int, error) {
	if len(msgs) == 1 {
		ack, err := b.js.PublishMsg(ctx, msgs[0], jetstream.WithMsgID(ids[0]))
		if err != nil {
			return 0, fmt.Errorf("publish %s: %w", msgs[0].Subject, err)
		}
		if ack.Duplicate {
			return 1, nil
		}
		return 0, nil
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		f, err := b.js.PublishMsgAsync(m, jetstream.WithMsgID(ids[i]))
		if err != nil {
			return 0, fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures[i] = f
	}
	dups := 0
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				dups++
			}
		case err := <-f.Err():
			return dups, fmt.Errorf("publish %s: %w", msgs[i].Subject, err)
		case <-ctx.Done():
			return dups, fmt.Errorf("publish %s: %w", msgs[i].Subject, ctx.Err())
		}
	}
	return dups, nil
}

// PublishMsgs stores messages already encoded (Encode, plus headers of the
// caller's own) like Publish does, ids[i] being the Nats-Msg-Id of msgs[i].
func (b *Bus) PublishMsgs(ctx context.Context, msgs []*nats.Msg, ids []string) (duplicates int, err error) {
	return b.publishMsgs(ctx, msgs, ids)
}
