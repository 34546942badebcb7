// Package ops is what operators do when something failed: list, inspect and
// redrive dead letters (XD_DLQ), and replay an account's outbound events
// (XD_OUT) to its webhook. The crossdock dlq and crossdock replay commands
// and the /v1/admin/ endpoints are thin layers over it; it talks to NATS
// only, so it runs in the hub or on an operator's machine alike.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/delivery"
)

// ErrNotFound is returned for a dead letter that is not (or no longer) in
// the DLQ, and for an account that does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoWebhook is returned when replaying or redriving to an account or
// warehouse that has no webhook.
var ErrNoWebhook = errors.New("no webhook")

// ErrTrimmed is Redrive's answer for a dead letter the bus had to trim to
// store it (bus.HeaderDLQTrimmed): not the original, so not redrivable.
var ErrTrimmed = errors.New("trimmed dead letter")

// Ops runs operator actions against a hub's NATS.
type Ops struct {
	js     jetstream.JetStream
	sender *delivery.Sender
}

// Interactive is the retry policy of redrives and replays when New is given
// no sender: an operator waits for the answer, so a few quick tries, not
// the delivery service's hours.
var Interactive = delivery.Retry{Attempts: 3, Base: 500 * time.Millisecond, Max: 5 * time.Second, Timeout: 30 * time.Second}

// New returns operator actions on js. sender POSTs redriven and replayed
// events to webhooks; nil means one with the Interactive retry policy.
func New(js jetstream.JetStream, sender *delivery.Sender) *Ops {
	if sender == nil {
		sender = delivery.NewSender(Interactive)
	}
	return &Ops{js: js, sender: sender}
}

// DeadLetter is one DLQ entry as operators see it.
type DeadLetter struct {
	Seq             uint64          `json:"seq"`
	Subject         string          `json:"subject"`
	Code            string          `json:"code"`
	Errors          json.RawMessage `json:"errors,omitempty"`
	OriginalSubject string          `json:"original_subject"`
	OriginalStream  string          `json:"original_stream,omitempty"`
	OriginalSeq     uint64          `json:"original_seq,omitempty"`
	Consumer        string          `json:"consumer,omitempty"`
	Attempts        int             `json:"attempts,omitempty"`
	Time            time.Time       `json:"time"`
	Response        string          `json:"response,omitempty"`
	EventID         string          `json:"event_id,omitempty"`
	EventType       string          `json:"event_type,omitempty"`
	// Header and Data are the original message, filled by Show only.
	Header map[string][]string `json:"header,omitempty"`
	Data   string              `json:"data,omitempty"`
}

// Filter narrows a DLQ listing; zero fields match everything.
type Filter struct {
	Account   string // account id
	Warehouse string // warehouse id
	Code      string // error code
	Limit     int    // the newest Limit entries; zero means 100
}

func (f Filter) subjects() []string {
	code := f.Code
	if code == "" {
		code = "*"
	}
	switch {
	case f.Warehouse != "":
		return []string{bus.Sender{Warehouse: f.Warehouse}.DLQSubject(code)}
	case f.Account != "":
		return []string{bus.Sender{Account: f.Account}.DLQSubject(code)}
	case f.Code != "":
		return []string{bus.Sender{Account: "*"}.DLQSubject(code), bus.Sender{Warehouse: "*"}.DLQSubject(code)}
	}
	return []string{bus.AllDLQ}
}

func deadLetterOf(subject string, seq uint64, h nats.Header, stored time.Time) DeadLetter {
	d := DeadLetter{
		Seq:             seq,
		Subject:         subject,
		Code:            h.Get(bus.HeaderDLQCode),
		OriginalSubject: h.Get(bus.HeaderDLQSubject),
		OriginalStream:  h.Get(bus.HeaderDLQStream),
		Consumer:        h.Get(bus.HeaderDLQConsumer),
		Response:        h.Get(delivery.HeaderDLQResponse),
		EventID:         h.Get("ce-id"),
		EventType:       h.Get("ce-type"),
		Time:            stored.UTC(),
	}
	if e := h.Get(bus.HeaderDLQErrors); json.Valid([]byte(e)) {
		d.Errors = json.RawMessage(e)
	}
	d.OriginalSeq, _ = strconv.ParseUint(h.Get(bus.HeaderDLQSequence), 10, 64)
	d.Attempts, _ = strconv.Atoi(h.Get(bus.HeaderDLQAttempts))
	if t, err := time.Parse(time.RFC3339Nano, h.Get(bus.HeaderDLQTime)); err == nil {
		d.Time = t
	}
	return d
}

// List returns the newest dead letters matching f, oldest first.
func (o *Ops) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var out []DeadLetter
	err := bus.Scan(ctx, o.js, bus.StreamDLQ, f.subjects(), bus.From{}, func(m jetstream.Msg, seq uint64) bool {
		var stored time.Time
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		out = append(out, deadLetterOf(m.Subject(), seq, m.Headers(), stored))
		if len(out) > 2*f.Limit {
			out = append(out[:0], out[len(out)-f.Limit:]...)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	if len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// Show returns one dead letter with its original headers and body.
func (o *Ops) Show(ctx context.Context, seq uint64) (*DeadLetter, error) {
	m, err := o.get(ctx, seq)
	if err != nil {
		return nil, err
	}
	d := deadLetterOf(m.Subject, m.Sequence, m.Header, m.Time)
	d.Header, d.Data = m.Header, string(m.Data)
	return &d, nil
}

// retry repeats the operators' requests that fail for a moment on a
// cluster (a leader change, no responders yet): bounded, since an operator
// is waiting.
var retry = bus.Retry{Attempts: 5, Timeout: 5 * time.Second}

// stream looks up a stream, retrying transient failures.
func (o *Ops) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	var s jetstream.Stream
	err := retry.Do(ctx, func(ctx context.Context) (err error) {
		s, err = o.js.Stream(ctx, name)
		return err
	})
	return s, err
}

func (o *Ops) get(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	s, err := o.stream(ctx, bus.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	var m *jetstream.RawStreamMsg
	err = retry.Do(ctx, func(ctx context.Context) (err error) {
		m, err = s.GetMsg(ctx, seq)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	if !strings.HasPrefix(m.Subject, strings.TrimSuffix(bus.AllDLQ, ">")) {
		return nil, fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
	}
	return m, nil
}

// Redriven says what a redrive did.
type Redriven struct {
	Seq       uint64 `json:"seq"`
	Action    string `json:"action"`              // "republished" or "delivered"
	Subject   string `json:"subject,omitempty"`   // where it was republished
	Duplicate bool   `json:"duplicate,omitempty"` // JetStream already held this redrive
	Endpoint  string `json:"endpoint,omitempty"`  // the webhook it was delivered to
	Attempts  int    `json:"attempts,omitempty"`
}

// Redrive sends a dead letter back to where it failed, with its original
// CloudEvent id and bytes, and removes it from the DLQ:
//
//   - an event a webhook refused (a delivery dead letter) is POSTed to the
//     endpoint again, signed and retried as usual;
//   - anything else is republished to its original subject, where its
//     consumer takes it again. Its Nats-Msg-Id is the original's scoped by
//     the dead letter's sequence: the original's own id would be dropped as
//     a duplicate within JetStream's window, while this one is stored once
//     however often the same entry is redriven. The services' idempotency
//     (by event id) does the rest, so a fixed consumer processes it once.
//
// A dead letter that was already redriven is gone: redriving it again is
// ErrNotFound.
func (o *Ops) Redrive(ctx context.Context, seq uint64) (Redriven, error) {
	m, err := o.get(ctx, seq)
	if err != nil {
		return Redriven{}, err
	}
	orig := m.Header.Get(bus.HeaderDLQSubject)
	if orig == "" {
		return Redriven{}, fmt.Errorf("dead letter %d: no %s header, cannot tell where it failed", seq, bus.HeaderDLQSubject)
	}
	if trimmed := m.Header.Get(bus.HeaderDLQTrimmed); trimmed != "" {
		// Not the original any more: redriven, it would be another event.
		return Redriven{}, fmt.Errorf("dead letter %d: %w (%s): kept for inspection, it cannot be redriven", seq, ErrTrimmed, bus.Bounded(trimmed))
	}
	h := nats.Header{}
	for k, v := range m.Header {
		if bus.IsLetterHeader(k) || k == "Nats-Msg-Id" || k == "Nats-Expected-Stream" {
			continue
		}
		h[k] = v
	}
	s, err := o.stream(ctx, bus.StreamDLQ)
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %d: %w", seq, err)
	}
	if m.Header.Get(delivery.HeaderDLQEndpoint) != "" { // a webhook refused it
		return o.redeliver(ctx, s, m, h, orig)
	}
	id := m.Header.Get("Nats-Msg-Id")
	if id == "" {
		id = orig
	}
	// The message id makes a repeated publish (after a timeout whose
	// publish did land) one stored message.
	var ack *jetstream.PubAck
	err = retry.Do(ctx, func(ctx context.Context) (err error) {
		ack, err = o.js.PublishMsg(ctx, &nats.Msg{Subject: orig, Header: h, Data: m.Data},
			jetstream.WithMsgID(m.Header.Get(bus.HeaderDLQStream)+":"+id+"/redrive/"+strconv.FormatUint(seq, 10)))
		return err
	})
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %d to %s: %w", seq, orig, err)
	}
	err = retry.Do(ctx, func(ctx context.Context) error { return s.DeleteMsg(ctx, seq) })
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return Redriven{}, fmt.Errorf("redrive %d: republished, but not removed from the DLQ: %w", seq, err)
	}
	return Redriven{Seq: seq, Action: "republished", Subject: orig, Duplicate: ack.Duplicate}, nil
}

// redeliver POSTs a delivery dead letter to its endpoint. The entry is
// removed first, so that two operators redriving it at once deliver it once;
// if the POST fails, it is stored again as a new dead letter.
func (o *Ops) redeliver(ctx context.Context, s jetstream.Stream, m *jetstream.RawStreamMsg, h nats.Header, orig string) (Redriven, error) {
	ev, err := bus.Decode(&nats.Msg{Subject: orig, Header: h, Data: m.Data})
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %d: %w", m.Sequence, err)
	}
	ep, err := o.endpointOf(ctx, orig)
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %d: %w", m.Sequence, err)
	}
	// Only a delete no server received is repeated: after a timeout the
	// first may have landed, and a second would then read as "redriven
	// already" for an event never delivered.
	err = s.DeleteMsg(ctx, m.Sequence)
	for try := 1; errors.Is(err, nats.ErrNoResponders) && try < retry.Attempts && ctx.Err() == nil; try++ {
		time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		err = s.DeleteMsg(ctx, m.Sequence)
	}
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return Redriven{}, fmt.Errorf("redrive %d: %w (redriven already)", m.Sequence, ErrNotFound)
		}
		return Redriven{}, fmt.Errorf("redrive %d: %w", m.Sequence, err)
	}
	out := o.sender.Deliver(ctx, ep, delivery.BinaryPayload(ev), nil)
	if out.Delivered {
		return Redriven{Seq: m.Sequence, Action: "delivered", Endpoint: ep.Name(), Attempts: out.Attempts}, nil
	}
	again := &nats.Msg{Subject: m.Subject, Header: nats.Header{}, Data: m.Data}
	for k, v := range m.Header {
		again.Header[k] = v
	}
	again.Header.Set(delivery.HeaderDLQResponse, out.Last.String())
	again.Header.Set(bus.HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	again.Header.Set(bus.HeaderDLQAttempts, strconv.Itoa(out.Attempts))
	err = retry.Do(ctx, func(ctx context.Context) error {
		_, err := o.js.PublishMsg(ctx, again, jetstream.WithMsgID(m.Header.Get("Nats-Msg-Id")+"/redrive/"+strconv.FormatUint(m.Sequence, 10)))
		return err
	})
	if err != nil {
		return Redriven{}, fmt.Errorf("redrive %d: %s, and the dead letter could not be stored again: %w", m.Sequence, out.Last, err)
	}
	return Redriven{}, fmt.Errorf("redrive %d: %s after %d attempt(s); dead-lettered again", m.Sequence, out.Last, out.Attempts)
}

// endpointOf finds the webhook behind an outbound subject
// (xd.out.<account>.… or xd.wh.<warehouse>.…) in the live registry bucket.
func (o *Ops) endpointOf(ctx context.Context, subject string) (delivery.Endpoint, error) {
	tok := strings.Split(subject, ".")
	if len(tok) < 3 {
		return delivery.Endpoint{}, fmt.Errorf("subject %s names no account", subject)
	}
	switch tok[1] {
	case "out":
		return o.Endpoint(ctx, tok[2], "")
	case "wh":
		return o.Endpoint(ctx, "", tok[2])
	}
	return delivery.Endpoint{}, fmt.Errorf("subject %s is not an outbound subject", subject)
}

// Endpoint reads an account's (or a warehouse's) webhook from the live
// registry bucket, XD_ACCOUNTS.
func (o *Ops) Endpoint(ctx context.Context, account, warehouse string) (delivery.Endpoint, error) {
	var kv jetstream.KeyValue
	err := retry.Do(ctx, func(ctx context.Context) (err error) {
		kv, err = o.js.KeyValue(ctx, accounts.BucketName)
		return err
	})
	if err != nil {
		return delivery.Endpoint{}, fmt.Errorf("registry: %w", err)
	}
	key, who := "account."+account, "account "+account
	if warehouse != "" {
		key, who = "warehouse."+warehouse, "warehouse "+warehouse
	}
	var e jetstream.KeyValueEntry
	err = retry.Do(ctx, func(ctx context.Context) (err error) {
		e, err = kv.Get(ctx, key)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return delivery.Endpoint{}, fmt.Errorf("%s: %w", who, ErrNotFound)
	}
	if err != nil {
		return delivery.Endpoint{}, fmt.Errorf("%s: %w", who, err)
	}
	var holder struct {
		Webhook *accounts.Webhook `json:"webhook"`
	}
	if err := json.Unmarshal(e.Value(), &holder); err != nil {
		return delivery.Endpoint{}, fmt.Errorf("%s: %w", who, err)
	}
	if holder.Webhook == nil {
		return delivery.Endpoint{}, fmt.Errorf("%s: %w", who, ErrNoWebhook)
	}
	return delivery.Endpoint{Account: account, Warehouse: warehouse, URL: holder.Webhook.URL, Secret: holder.Webhook.Secret}, nil
}

// ReplayRequest says which of an account's (or a warehouse's) outbound
// events to send again.
type ReplayRequest struct {
	Account   string    `json:"account,omitempty"`
	Warehouse string    `json:"warehouse,omitempty"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until,omitzero"`  // zero: up to now
	Types     []string  `json:"types,omitempty"` // event names or types; empty: all
	// Progress, when set, is called after each event sent or skipped, with
	// the counts so far (the console's replay page follows it).
	Progress func(Replayed) `json:"-"`
}

// Replayed says what a replay sent.
type Replayed struct {
	Sent    int    `json:"sent"`
	Skipped int    `json:"skipped"` // of another type
	LastSeq uint64 `json:"last_seq,omitempty"`
}

// Replay re-sends an account's events stored in XD_OUT between Since and
// Until to its webhook, in order, signed, with their original ids (so a
// receiver that kept some of them can drop the repeats). It stops at the
// first event the endpoint does not take and says where: replay again from
// that event's time to continue. It does not touch the account's realtime
// delivery, which goes on beside it.
func (o *Ops) Replay(ctx context.Context, r ReplayRequest) (Replayed, error) {
	if (r.Account == "") == (r.Warehouse == "") || r.Since.IsZero() {
		return Replayed{}, errors.New("replay: name the account (or the warehouse) and since")
	}
	if !r.Until.IsZero() && !r.Until.After(r.Since) {
		return Replayed{}, errors.New("replay: until must be after since")
	}
	ep, err := o.Endpoint(ctx, r.Account, r.Warehouse)
	if err != nil {
		return Replayed{}, fmt.Errorf("replay: %w", err)
	}
	typeOK := func(t string) bool { return true }
	if len(r.Types) > 0 {
		x := accounts.Experiment{Types: r.Types}
		typeOK = func(t string) bool { return delivery.Matches(x, t) }
	}
	var res Replayed
	var failed error
	err = bus.Scan(ctx, o.js, bus.StreamOut, []string{ep.Subject()}, bus.From{Time: r.Since}, func(m jetstream.Msg, seq uint64) bool {
		if md, err := m.Metadata(); err == nil && !r.Until.IsZero() && !md.Timestamp.Before(r.Until) {
			return false
		}
		var ev *event.Event
		ev, failed = bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if failed != nil {
			failed = fmt.Errorf("replay: XD_OUT message %d: %w", seq, failed)
			return false
		}
		if !typeOK(ev.Type()) {
			res.Skipped++
			if r.Progress != nil {
				r.Progress(res)
			}
			return true
		}
		out := o.sender.Deliver(ctx, ep, delivery.BinaryPayload(ev), nil)
		if !out.Delivered {
			failed = fmt.Errorf("replay: event %s (XD_OUT %d): %s after %d attempt(s); %d sent before it", ev.ID(), seq, out.Last, out.Attempts, res.Sent)
			return false
		}
		res.Sent++
		res.LastSeq = seq
		if r.Progress != nil {
			r.Progress(res)
		}
		return true
	})
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	return res, failed
}
