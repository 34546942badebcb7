package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/intake"
)

// RelayQueue is the queue group of the intake relay's subscriptions: every
// gateway process joins it, and NATS gives each message to one of them.
const RelayQueue = "crossdock-intake"

// Pending limits of the relay's subscriptions: what NATS holds for the relay
// while it works. Beyond them the client library drops messages, which it
// counts; a dropped message was never stored nor acknowledged, so its
// publisher's JetStream publish times out and is retried (docs/security.md).
const (
	RelayPendingMsgs  = 65536
	RelayPendingBytes = 256 << 20
)

// refusalQueue bounds the refusals waiting for their dead letter and
// rejection to be stored; beyond it a refusal is answered but not kept (the
// quota bounds how fast a sender can make them).
const refusalQueue = 1024

// JetStream-shaped err_code values of the relay's refusals (nats.go's
// jetstream package returns them as an *APIError; the description starts
// with the hub's stable code). JetStream's own codes are below 11000.
const (
	ErrCodeRefused     = 19400 // 400: attribute_too_large, schema_violation
	ErrCodeTooLarge    = 19413 // 413: too_large
	ErrCodeRateLimited = 19429 // 429: rate_limited
	ErrCodeUnavailable = 19503 // 503: the hub could not pass the message on
)

// Relay is the intake of events and files published over NATS. Customers
// and warehouses publish on xd.in.<account>.<name> and
// xd.raw.<account>.<format> (NATS permissions tie the subject to their
// credentials); no stream listens there. The relay, a queue subscription
// shared by every gateway process, takes each message and
//
//   - names its sender from the subject, never from the message;
//   - refuses what could not be stored sensibly (attributes over the limits
//     of limits.go, headers too large, an id that is not UTF-8) and what is
//     over the sender's quota, answering the publisher's reply subject with
//     a JetStream-shaped error; a refused event also goes to XD_DLQ, its
//     headers trimmed to fit, and an event.rejected to the sender;
//   - stores the rest unchanged on xd.intake.… (XD_IN, XD_RAW) under the
//     hub's key: the sender-scoped CloudEvent id (IntakeKey) or, for a
//     file, the sender-scoped client id or content hash. The client's own
//     Nats-* headers are dropped. JetStream answers the publisher's reply
//     subject itself, so js.Publish, nats req and nats pub work unchanged.
//
// It decodes no event: it reads the ce-id header or, in structured mode, only
// the id member. It holds no acknowledgement: the stream sends it, once
// stored, so a relay that stops or falls behind loses only messages nobody
// acknowledged, which their publishers retry.
type Relay struct {
	nc   *nats.Conn
	bus  *bus.Bus
	door *Door
	log  *zap.Logger

	refusals chan refusal
	dropped  atomic.Int64 // refusals not kept: the queue was full
	subs     []*nats.Subscription
}

// NewRelay returns the relay. nc is the connection it subscribes and
// publishes on, best its own so that a backlog never delays the hub's other
// traffic; b stores dead letters and rejections.
func NewRelay(nc *nats.Conn, b *bus.Bus, door *Door, log *zap.Logger) *Relay {
	return &Relay{nc: nc, bus: b, door: door, log: log, refusals: make(chan refusal, refusalQueue)}
}

// refusal is a refused message on its way to the DLQ.
type refusal struct {
	msg  *nats.Msg
	from bus.Sender
	id   string // the event id when it could be read and is fit to name
	p    bus.Problem
}

// Listen subscribes the relay, so that messages published from now on are
// taken (and held until Run relays them). Run calls it when it was not.
func (r *Relay) Listen() error {
	if r.subs != nil {
		return nil
	}
	for _, subject := range []string{bus.AllIn, bus.AllRaw} {
		sub, err := r.nc.QueueSubscribe(subject, RelayQueue, r.relay)
		if err != nil {
			return fmt.Errorf("intake relay: subscribe %s: %w", subject, err)
		}
		if err := sub.SetPendingLimits(RelayPendingMsgs, RelayPendingBytes); err != nil {
			return fmt.Errorf("intake relay: pending limits: %w", err)
		}
		r.subs = append(r.subs, sub)
	}
	if err := r.nc.Flush(); err != nil {
		return fmt.Errorf("intake relay: %w", err)
	}
	return nil
}

// Run relays until ctx ends, then drains its subscriptions: what NATS had
// handed to this process is relayed before Run returns.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.Listen(); err != nil {
		return err
	}
	subs := r.subs
	keeperDone := make(chan struct{})
	keepCtx, stopKeeper := context.WithCancel(context.Background())
	go func() {
		defer close(keeperDone)
		r.keep(keepCtx)
	}()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	var lastDropped int
	report := func() {
		n := 0
		for _, s := range subs {
			d, _ := s.Dropped()
			n += d
		}
		if n > lastDropped {
			r.log.Warn("intake relay fell behind: messages dropped unacknowledged (their publishers retry)",
				zap.Int("dropped", n-lastDropped))
			lastDropped = n
		}
		if d := r.dropped.Swap(0); d > 0 {
			r.log.Warn("refusals answered but not dead-lettered: too many at once", zap.Int64("refusals", d))
		}
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			report()
		}
	}
	for _, s := range subs {
		_ = s.Drain()
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range subs {
		for s.IsValid() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	report()
	stopKeeper()
	<-keeperDone
	return nil
}

// relay handles one message (the subscriptions' callback).
func (r *Relay) relay(m *nats.Msg) {
	out, ref := r.decide(m)
	if ref != nil {
		r.refuse(m, ref)
		return
	}
	if err := r.nc.PublishMsg(out); err != nil {
		code, status := ErrCodeUnavailable, 503
		if err == nats.ErrMaxPayload {
			code, status = ErrCodeTooLarge, 413
		}
		r.reply(m, status, code, bus.Problem{Code: bus.CodeProcessingFailed, Message: "the message could not be stored: " + err.Error()}, 0)
	}
}

// verdict is the relay's decision on a refused message.
type verdict struct {
	from   bus.Sender
	status int
	code   int
	p      bus.Problem
	id     string
	wait   time.Duration // rate_limited: when to retry
}

// decide returns the message to store, or why not. It is the relay's whole
// decision, pure but for the quota.
func (r *Relay) decide(m *nats.Msg) (*nats.Msg, *verdict) {
	from := bus.SenderOf(nil, m.Subject)
	raw := strings.HasPrefix(m.Subject, strings.TrimSuffix(bus.AllRaw, ">"))
	key, id, p := intakeKey(from, raw, m.Header, m.Data)
	size := len(m.Data) + headerSize(m.Header)
	if wait, ok := r.door.Allow(from, 1, size); !ok {
		return nil, &verdict{from: from, status: 429, code: ErrCodeRateLimited, wait: wait, id: id,
			p: bus.Problem{Code: bus.CodeRateLimited, Message: fmt.Sprintf("the sender is over its quota; retry in %s", wait.Round(time.Millisecond))}}
	}
	if p != nil {
		return nil, &verdict{from: from, status: 400, code: ErrCodeRefused, p: *p, id: id}
	}
	data := m.Data
	if !raw {
		data = overChannel(m.Header, m.Data)
	}
	out := &nats.Msg{Subject: bus.IntakePrefix + m.Subject, Header: storedHeader(m.Header, key), Data: data}
	if replyAllowed(m.Reply) {
		out.Reply = m.Reply
	}
	return out, nil
}

// storedHeader is what the relay stores of a message's headers: all but
// the client's JetStream instructions (Nats-*), which are the hub's to give,
// and the hub's own file headers (bus.HeaderFilePrefix), with the hub's key
// as Nats-Msg-Id. It changes h in place (the relay owns
// the message it received) and returns it.
func storedHeader(h nats.Header, key string) nats.Header {
	if h == nil {
		h = make(nats.Header, 1)
	}
	for k := range h {
		if hasPrefixFold(k, "nats-") || hasPrefixFold(k, bus.HeaderFilePrefix) {
			delete(h, k)
		}
	}
	h["Nats-Msg-Id"] = []string{key}
	return h
}

// hasPrefixFold reports whether s starts with prefix, ignoring case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// overChannel sets an event's channel extension to nats where its publisher
// named one (api, portal, a file format: the hub's own intakes' labels,
// which the console's flow figures count by), as POST /v1/events sets api
// whatever the client sent. Absent, the channel is nats already, and the
// message is stored as sent. Binary mode: every ce-channel header, in any
// case, becomes one ce-channel: nats (h changes in place). Structured
// mode: each top-level channel member's value becomes "nats", in a copy of
// data; the rest of the body is kept byte for byte.
func overChannel(h nats.Header, data []byte) []byte {
	if h.Get("ce-specversion") != "" {
		named := false
		for k := range h {
			if strings.EqualFold(k, "ce-"+bus.ExtChannel) {
				delete(h, k)
				named = true
			}
		}
		if named {
			h["ce-"+bus.ExtChannel] = []string{bus.ChannelNATS}
		}
		return data
	}
	var spans [][2]int
	if !eachMember(data, func(key string, start, end int) {
		if key == bus.ExtChannel && string(data[start:end]) != `"`+bus.ChannelNATS+`"` {
			spans = append(spans, [2]int{start, end})
		}
	}) || len(spans) == 0 {
		return data // not an object: the router refuses it as it is
	}
	out := make([]byte, 0, len(data))
	last := 0
	for _, s := range spans {
		out = append(append(out, data[last:s[0]]...), `"`+bus.ChannelNATS+`"`...)
		last = s[1]
	}
	return append(out, data[last:]...)
}

// intakeKey is the key a message is stored under, the event id it names
// (when it names one fit to repeat), or why it cannot be stored.
func intakeKey(from bus.Sender, raw bool, h nats.Header, data []byte) (key, id string, p *bus.Problem) {
	hid, p := checkHeaders(h)
	if p != nil {
		if h.Get("ce-specversion") == "" {
			hid = ""
		}
		return "", hid, p
	}
	if raw {
		// A partner's file: the client's id for it, scoped, or its content.
		if cid := h.Get("Nats-Msg-Id"); cid != "" {
			if len(cid) > intake.MaxIDBytes || !utf8.ValidString(cid) {
				return "", "", &bus.Problem{Code: bus.CodeAttributeTooLarge, Field: "Nats-Msg-Id",
					Message: fmt.Sprintf("a file's Nats-Msg-Id is at most %d bytes of UTF-8 (it is %d)", intake.MaxIDBytes, len(cid))}
			}
			return IntakeKey(from, cid), cid, nil
		}
		return IntakeKey(from, contentKey(data)), "", nil
	}
	if h.Get("ce-specversion") != "" {
		id = hid
	} else {
		sid, rawID, ok := structuredID(data)
		switch {
		case ok && !utf8.Valid(rawID):
			return "", "", &bus.Problem{Code: bus.CodeSchemaViolation, Message: "id is not valid UTF-8", Field: "id"}
		case len(sid) > intake.MaxIDBytes:
			return "", "", intake.TooLarge("id", len(sid), intake.MaxIDBytes)
		case ok:
			id = sid
		}
	}
	if id == "" {
		// Not an event the router will take (no id, not JSON): stored
		// under its content, so that a retry is one dead letter.
		return IntakeKey(from, contentKey(data)), "", nil
	}
	return IntakeKey(from, id), id, nil
}

// contentKey names a message by its content.
func contentKey(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// replyAllowed reports whether the relay passes a publisher's reply subject
// on to JetStream, which sends its acknowledgement there: only an inbox
// (_INBOX.…, _INBOX_<account>.…), never a subject a stream stores, where
// a forged reply would plant the ack in another account's events.
func replyAllowed(reply string) bool {
	return strings.HasPrefix(reply, "_INBOX") && !strings.ContainsAny(reply, "*> \t")
}

// headerSize is the size of h's names and values.
func headerSize(h nats.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v)
		}
	}
	return n
}

// refuse answers a refused message and, unless it was only over its quota,
// queues its dead letter and rejection.
func (r *Relay) refuse(m *nats.Msg, v *verdict) {
	r.reply(m, v.status, v.code, v.p, v.wait)
	if v.p.Code == bus.CodeRateLimited {
		// Not kept: the quota exists to bound what a flood costs, the DLQ
		// included. The publisher was told, and retries.
		return
	}
	r.log.Info("intake refused", zap.String("account", v.from.Account), zap.String("warehouse", v.from.Warehouse),
		zap.String("subject", truncate(m.Subject, 128)), zap.String("code", v.p.Code), zap.String("field", truncate(v.p.Field, 64)),
		zap.Int("bytes", len(m.Data)+headerSize(m.Header)))
	select {
	case r.refusals <- refusal{msg: m, from: v.from, id: v.id, p: v.p}:
	default:
		r.dropped.Add(1)
	}
}

// apiError is the JetStream API error shape nats.go turns into an *APIError.
type apiError struct {
	Type  string `json:"type"`
	Error struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// reply answers the publisher, when it asked for an answer on an inbox.
func (r *Relay) reply(m *nats.Msg, status, code int, p bus.Problem, wait time.Duration) {
	if !replyAllowed(m.Reply) {
		return
	}
	var e apiError
	e.Type = "io.nats.jetstream.api.v1.pub_ack_response"
	e.Error.Code, e.Error.ErrCode = status, code
	e.Error.Description = p.Code + ": " + p.Message
	if p.Field != "" {
		e.Error.Description += " (" + p.Field + ")"
	}
	b, _ := json.Marshal(e)
	msg := &nats.Msg{Subject: m.Reply, Data: b}
	if wait > 0 {
		msg.Header = nats.Header{"Retry-After": {retryAfter(min(wait, time.Hour))}}
	}
	_ = r.nc.PublishMsg(msg)
}

// keep stores the refused messages' dead letters and rejections until ctx
// ends (and what is queued by then).
func (r *Relay) keep(ctx context.Context) {
	for {
		select {
		case f := <-r.refusals:
			r.deadLetter(f)
		case <-ctx.Done():
			for {
				select {
				case f := <-r.refusals:
					r.deadLetter(f)
				default:
					return
				}
			}
		}
	}
}

// deadLetter stores a refused message in XD_DLQ and answers its sender with
// an event.rejected.
func (r *Relay) deadLetter(f refusal) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rej := &bus.Rejection{Problems: []bus.Problem{f.p}}
	// The rejection names the event by its id when that is fit to repeat;
	// otherwise rejected_id is empty and its own id derives from the content.
	var cause *event.Event
	if f.id != "" {
		ev := event.New()
		ev.SetID(f.id)
		if t := f.msg.Header.Get("ce-type"); len(t) <= intake.MaxAttributeBytes && utf8.ValidString(t) {
			ev.SetType(t)
		}
		cause = &ev
	}
	var outs []bus.Outgoing
	if ev, err := bus.RejectionEvent(cause, contentKey(f.msg.Data), "/crossdock/gateway", f.from, rej); err != nil {
		r.log.Error("build rejection", zap.Error(err))
	} else {
		outs = append(outs, bus.Outgoing{Subject: f.from.Subject("event.rejected"), Event: ev})
	}
	letter := TrimmedLetter(f.msg, f.from, rej)
	if _, err := r.bus.PublishMsgs(ctx, []*nats.Msg{letter}, []string{letter.Header.Get("Nats-Msg-Id")}); err != nil {
		r.log.Warn("dead-letter a refused message", zap.String("account", f.from.Account), zap.Error(err))
	}
	if _, err := r.bus.Publish(ctx, outs...); err != nil {
		r.log.Warn("answer a refused message", zap.String("account", f.from.Account), zap.Error(err))
	}
}

// TrimmedLetter is the dead letter of a message refused at the door
// (bus.RefusedLetter, consumer "intake"): its body as sent, its headers as
// sent but for JetStream's (Nats-*), each value cut to
// intake.MaxAttributeBytes and all of them to MaxHeaderBytes so that the
// letter always fits in JetStream's headers, and the reason in the
// Crossdock-Dlq-* headers. Crossdock-Dlq-Trimmed names the headers cut.
func TrimmedLetter(m *nats.Msg, from bus.Sender, rej *bus.Rejection) *nats.Msg {
	letter := bus.RefusedLetter(m, "intake", from, rej)
	h := letter.Header
	var trimmed []string
	budget := MaxHeaderBytes
	for k, vs := range h {
		if bus.IsLetterHeader(k) || k == "Nats-Msg-Id" {
			continue // the bus's own, bounded
		}
		if len(k) > 128 {
			delete(h, k)
			trimmed = append(trimmed, truncate(k, 64))
			continue
		}
		kept := vs[:0]
		for _, v := range vs {
			if len(v) > intake.MaxAttributeBytes {
				v = truncate(v, intake.MaxAttributeBytes)
				trimmed = append(trimmed, k)
			}
			if budget -= len(k) + len(v); budget < 0 {
				trimmed = append(trimmed, k)
				break
			}
			kept = append(kept, v)
		}
		if len(kept) == 0 {
			delete(h, k)
		} else {
			h[k] = kept
		}
	}
	if len(trimmed) > 0 {
		h.Set(bus.HeaderDLQTrimmed, truncate(strings.Join(trimmed, ","), 1024))
	}
	return letter
}

// truncate cuts s to at most n bytes (on a rune boundary) and says how long
// it was: what the hub logs or keeps of a value that may be the attack.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	suffix := "…(" + strconv.Itoa(len(s)) + " bytes)"
	cut := max(n-len(suffix), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + suffix
}
