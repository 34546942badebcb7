package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/intake"
)

// MaxFileSize is the largest file, in bytes, POST /v1/ingest takes. NATS
// limits xd.raw messages to the server's max_payload (1 MiB by default); the
// hub keeps larger files in parts (bus.FileMsgs).
const MaxFileSize = 8 << 20

// HeaderAccount names, on an xd.raw.wh.… message, the account a warehouse's
// file concerns, when the file itself does not say (by a ship-to GLN).
const HeaderAccount = "Crossdock-Account"

// Ingest turns partners' files into events with the registered adapters:
// over HTTP (POST /v1/ingest/{format}) and from the XD_RAW stream
// (xd.raw.<account>.<format>, xd.raw.wh.<warehouse>.<format>). What an
// adapter makes passes the same Checker as any event and goes to xd.in, from
// where the router takes it like any other.
//
// Every file is kept as sent in XD_RAW, whichever way it came, and the
// events made from it name it in their causationid: a trace goes from an
// order back to its file and its control numbers. A file posted over HTTP is
// decoded at the door, so that the answer lists each unit's result, then
// stored (in parts when larger than bus.FilePartSize) with
// bus.HeaderFileDecoded, which the raw consumer acknowledges without
// decoding it again.
//
// A file is all or nothing per unit (an X12 transaction set, a CSV order),
// not as a whole: the units that decode and pass the checks are stored, the
// others are reported with the line or segment at fault. Ids derive from the
// content, so resending the whole file once fixed stores only what was missing.
type Ingest struct {
	bus      *bus.Bus
	reg      *accounts.Registry
	check    *intake.Checker
	door     *Door
	adapters *adapters.Registry
	log      *zap.Logger
}

// NewIngest returns the ingest service over the adapters of r. door may be
// nil: a Door with its defaults.
func NewIngest(b *bus.Bus, reg *accounts.Registry, check *intake.Checker, door *Door, r *adapters.Registry, log *zap.Logger) *Ingest {
	if door == nil {
		door = NewDoor(reg, DoorConfig{})
	}
	return &Ingest{bus: b, reg: reg, check: check, door: door, adapters: r, log: log}
}

// result is what one file made.
type result struct {
	outs     []bus.Outgoing
	ids      []string
	problems []problem.EventErrors
	// ack is the format's own receipt of the file (an X12 997), when the
	// adapter writes one, and ackType its media type.
	ack     []byte
	ackType string
}

// decode runs the format's adapter on data sent by from and checks each
// event. account names the account a warehouse's file concerns ("" to find
// it by the file's ship-to); fileID is the stored file's id, which each
// event names as its causationid. A nil result with problems means nothing
// could be read.
func (g *Ingest) decode(format string, from bus.Sender, account, fileID string, data []byte) result {
	var res result
	fail := func(code, msg, field string) result {
		res.problems = append(res.problems, problem.EventErrors{Problem: bus.Problem{Code: code, Message: msg, Field: field}})
		return res
	}
	a, ok := g.adapters.Lookup(format)
	if !ok {
		return fail(bus.CodeUnknownType, fmt.Sprintf("no adapter for format %q; the hub reads %s", format, strings.Join(g.adapters.Formats(), ", ")), "format")
	}
	kind := adapters.SenderAccounts
	if from.Warehouse != "" {
		kind = adapters.SenderWarehouses
	}
	info := a.Info()
	if !slices.Contains(info.Senders, kind) {
		return fail(bus.CodeUnknownType, fmt.Sprintf("%s do not send %s files (senders: %s)", kind, format, strings.Join(info.Senders, ", ")), "format")
	}
	in := adapters.Input{Data: data, Account: from.Account, Warehouse: from.Warehouse, AccountOf: g.reg.AccountOfLocation}
	if from.Warehouse != "" {
		in.Account = account
	}
	evs, err := safeDecode(a, in)
	if ack, ok := a.(adapters.Acknowledger); ok {
		// The receipt's control number derives from the file, so a resent
		// file gets the same receipt.
		sum := sha256.Sum256(data)
		res.ack, _ = ack.Acknowledge(data, in, int(binary.BigEndian.Uint32(sum[:4])%1_000_000_000))
		res.ackType = adapters.ContentType(a)
	}
	for _, p := range adapters.Problems(err) {
		res.problems = append(res.problems, problem.EventErrors{Problem: p})
	}
	for _, ev := range evs {
		ev.SetExtension(bus.ExtChannel, format)
		ev.SetExtension(bus.ExtCausationID, fileID)
		if ps := g.check.Check(ev, from, len(ev.Data())); len(ps) > 0 {
			for _, p := range ps {
				p.Message = fmt.Sprintf("event %s made from the file: %s", bus.Name(ev.Type()), p.Message)
				res.problems = append(res.problems, problem.EventErrors{Problem: p, ID: ev.ID()})
			}
			continue
		}
		res.outs = append(res.outs, bus.Outgoing{Subject: bus.StoreSubject(from, bus.Name(ev.Type())), Event: ev, Key: IntakeKey(from, ev.ID())})
		res.ids = append(res.ids, ev.ID())
	}
	if len(evs) == 0 && len(res.problems) == 0 {
		return fail(bus.CodeParseError, "the file holds nothing the adapter makes events from", "file")
	}
	return res
}

// safeDecode turns an adapter's panic, which the conformance kit forbids,
// into a problem rather than a crashed process.
func safeDecode(a adapters.Adapter, in adapters.Input) (evs []*event.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			evs, err = nil, adapters.Errorf("file", "the %s adapter failed on this file: %v", a.Info().Format, r)
		}
	}()
	return a.Decode(in)
}

// Handler serves POST /v1/ingest/{format} and GET /v1/adapters.
func (g *Ingest) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/ingest/{format}", g.post)
	mux.HandleFunc("GET /v1/adapters", g.list)
	return mux
}

// ingestAnswer is the 400 answer to a file with failed units: the problem,
// and the ids stored from the units that were fine.
type ingestAnswer struct {
	problem.Details
	Accepted []string `json:"accepted"`
	// Acknowledgment is the format's own receipt (an X12 997), when it has one.
	Acknowledgment string `json:"acknowledgment,omitempty"`
}

// acceptedAnswer is the 202 answer.
type acceptedAnswer struct {
	Accepted       []string `json:"accepted"`
	Acknowledgment string   `json:"acknowledgment,omitempty"`
}

// post takes a file: 202 {"accepted": ids} when every unit made an event
// that is now stored; 400 with errors[] naming lines or segments, and the
// ids stored from the good units in accepted, when some failed. Both carry
// the format's receipt in acknowledgment when it has one (a 997 for X12).
func (g *Ingest) post(w http.ResponseWriter, r *http.Request) {
	id, ok := g.reg.AuthenticateRequest(r)
	if !ok {
		problem.Unauthorized(w, "crossdock", "a valid API key is required (Authorization: Bearer <key>)")
		return
	}
	from := bus.Sender{Account: id.Account, Warehouse: id.Warehouse}
	leave, ok := g.door.admit(w, r, from)
	if !ok {
		return
	}
	defer leave()
	// Files are up to eight times an event's size: four times its time.
	body, ok := g.door.readBody(w, r, MaxFileSize, 4, "file", bus.CodeParseError)
	if !ok {
		return
	}
	if wait, ok := g.door.Allow(from, 1, len(body)); !ok {
		rateLimited(w, wait)
		return
	}
	format := r.PathValue("format")
	if _, ok := g.adapters.Lookup(format); !ok {
		problem.One(w, http.StatusNotFound, bus.CodeUnknownType,
			fmt.Sprintf("no adapter for format %q; the hub reads %s (GET /v1/adapters)", format, strings.Join(g.adapters.Formats(), ", ")), "format")
		return
	}
	res, err := g.file(r.Context(), format, from, r.URL.Query().Get("account"), body, bus.ChannelAPI)
	var wait *waitError
	if errors.As(err, &wait) {
		rateLimited(w, wait.d)
		return
	}
	if err != nil {
		notStored(w, g.log, from, err, "resend the file (the same file makes the same ids)")
		return
	}
	if len(res.problems) > 0 {
		status := http.StatusBadRequest
		for _, p := range res.problems {
			if p.Code == bus.CodeAccountMismatch {
				status = http.StatusForbidden
			}
		}
		code := res.problems[0].Code
		w.Header().Set("Content-Type", problem.ContentType)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(ingestAnswer{
			Details: problem.Details{Type: "urn:crossdock:error:" + code, Title: http.StatusText(status), Status: status,
				Detail: fmt.Sprintf("%d problems; %d events stored from the parts of the file without errors", len(res.problems), len(res.ids)),
				Errors: res.problems},
			Accepted:       nonNil(res.ids),
			Acknowledgment: string(res.ack),
		})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(acceptedAnswer{Accepted: nonNil(res.ids), Acknowledgment: string(res.ack)})
}

// ErrNotStored is File's error when JetStream did not store the events of
// a file's good units: nothing is lost, and the same file makes the same
// ids when sent again.
var ErrNotStored = errors.New("the events could not be stored; send the file again")

// waitError is file's refusal of a file over the sender's quota.
type waitError struct{ d time.Duration }

func (e *waitError) Error() string { return "over the quota; retry in " + e.d.String() }

// file decodes a file sent through channel (api, portal), counts what it
// made against the sender's quota (the file itself counted as one event at
// the door), keeps the file in XD_RAW and stores the events of its good
// units, in that order: an event's cause is stored before it.
func (g *Ingest) file(ctx context.Context, format string, from bus.Sender, account string, data []byte, channel string) (result, error) {
	fileID := contentKey(data)
	res := g.decode(format, from, account, fileID, data)
	if len(res.outs) > 1 {
		if wait, ok := g.door.Allow(from, len(res.outs)-1, 0); !ok {
			return res, &waitError{wait}
		}
	}
	g.log.Info("file ingested", zap.String("account", from.Account), zap.String("warehouse", from.Warehouse),
		zap.String("format", format), zap.Int("bytes", len(data)), zap.Int("events", len(res.outs)), zap.Int("problems", len(res.problems)))
	if err := g.keep(ctx, format, from, account, fileID, channel, data); err != nil {
		g.log.Error("keep ingested file", zap.String("account", from.Account), zap.String("warehouse", from.Warehouse),
			zap.String("format", format), zap.Error(err))
		return res, fmt.Errorf("%w: %w", ErrNotStored, err)
	}
	for rest := res.outs; len(rest) > 0; {
		window := rest[:min(len(rest), FileWindow)]
		rest = rest[len(window):]
		if _, err := g.bus.Publish(ctx, window...); err != nil {
			g.log.Error("store ingested events", zap.String("account", from.Account), zap.String("warehouse", from.Warehouse),
				zap.String("format", format), zap.Error(err))
			return res, fmt.Errorf("%w: %w", ErrNotStored, err)
		}
	}
	return res, nil
}

// FileWindow is how many of a file's events are stored at once: the next
// ones are published when all of these are acknowledged. A file makes up
// to tens of thousands of events, more than the connection's window of
// unacknowledged publishes (bus.Dial), which every service and every other
// account's request share: published at once, they filled it, the file got
// "stalled with too many outstanding async published messages" (a 503), and
// so did whoever published meanwhile. A window of the request's own keeps
// what one file holds in flight, and its encoded copies, bounded.
const FileWindow = 1024

// keep stores a file decoded at the door in XD_RAW as sent, where a file
// sent on xd.raw is stored: the same subject, and the same key (the
// sender-scoped content hash the relay gives a file without a client id),
// so that a file sent twice, either way, is stored once. Its headers say it
// was decoded through channel, and name it fileID.
func (g *Ingest) keep(ctx context.Context, format string, from bus.Sender, account, fileID, channel string, data []byte) error {
	subject := bus.RawSubject(from, format)
	h := nats.Header{}
	if from.Warehouse != "" {
		if account != "" {
			h.Set(HeaderAccount, account)
		}
	}
	h.Set(bus.HeaderFileDecoded, channel)
	h.Set(bus.HeaderFileID, fileID)
	msgs, ids := bus.FileMsgs(bus.IntakePrefix+subject, IntakeKey(from, fileID), h, data)
	if _, err := g.bus.PublishMsgs(ctx, msgs, ids); err != nil {
		return fmt.Errorf("keep the %s file in %s: %w", format, bus.StreamRaw, err)
	}
	return nil
}

// FileResult is what a file made: the events stored from its good units
// (as stored, in file order) and the problems of the others, each naming
// its line or segment.
type FileResult struct {
	Stored   []*event.Event
	Problems []problem.EventErrors
}

// File is POST /v1/ingest/{format} for callers inside the hub (the
// portal): the same adapter, quota, checks and storage for a file sent by
// an authenticated from. account names the account a warehouse's file
// concerns ("" to find it by ship-to). An unknown format is a problem on
// "format", a file over the quota one with code rate_limited (nothing
// stored); the error is ErrNotStored when JetStream did not store the good
// units.
func (g *Ingest) File(ctx context.Context, format string, from bus.Sender, account string, data []byte) (FileResult, error) {
	if wait, ok := g.door.Allow(from, 1, len(data)); !ok {
		return FileResult{Problems: []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeRateLimited,
			Message: fmt.Sprintf("the account is over its quota (policy key quota); retry in %s", min(wait, time.Hour).Round(time.Millisecond))}}}}, nil
	}
	res, err := g.file(ctx, format, from, account, data, bus.ChannelPortal)
	out := FileResult{Problems: res.problems}
	var wait *waitError
	if errors.As(err, &wait) {
		return FileResult{Problems: []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeRateLimited,
			Message: fmt.Sprintf("the account is over its quota (policy key quota); retry in %s", min(wait.d, time.Hour).Round(time.Millisecond))}}}}, nil
	}
	if err != nil {
		return out, err
	}
	for _, o := range res.outs {
		out.Stored = append(out.Stored, o.Event)
	}
	return out, nil
}

// Formats are the formats an account (or, with warehouses, a warehouse)
// can send, with what each takes.
func (g *Ingest) Formats(warehouses bool) []adapters.Info {
	kind := adapters.SenderAccounts
	if warehouses {
		kind = adapters.SenderWarehouses
	}
	var out []adapters.Info
	for _, info := range g.adapters.List() {
		if slices.Contains(info.Senders, kind) {
			out = append(out, info)
		}
	}
	return out
}

func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// adapterView is one entry of GET /v1/adapters: the adapter's Info and where
// to send its files.
type adapterView struct {
	adapters.Info
	HTTP string `json:"http"`
	NATS string `json:"nats"`
}

// list serves GET /v1/adapters: what formats the hub reads, what each takes
// and makes. It needs no key: it says nothing about any account.
func (g *Ingest) list(w http.ResponseWriter, _ *http.Request) {
	out := []adapterView{}
	for _, info := range g.adapters.List() {
		nats := "xd.raw.<account>." + info.Format
		if slices.Contains(info.Senders, adapters.SenderWarehouses) {
			nats += ", xd.raw.wh.<warehouse>." + info.Format
		}
		out = append(out, adapterView{Info: info, HTTP: "/v1/ingest/" + info.Format, NATS: nats})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"adapters": out})
}

// Run consumes XD_RAW until ctx ends: each file is decoded like an HTTP
// upload, its good events go to xd.in; a file with failures is answered with
// an event.rejected listing them and lands, as sent, in the DLQ (code of its
// first problem), while the events of its good units are still stored.
// Files the HTTP door stored (bus.HeaderFileDecoded) were decoded there:
// they are acknowledged and nothing else.
func (g *Ingest) Run(ctx context.Context) error {
	return g.bus.Consume(ctx, bus.ConsumerConfig{
		Stream:   bus.StreamRaw,
		Durable:  "ingest",
		Subjects: []string{bus.AllRaw},
		Source:   "/crossdock/gateway",
		Raw:      true,
	}, g.handleRaw)
}

// handleRaw decodes one file from XD_RAW.
func (g *Ingest) handleRaw(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	if d.Header.Get(bus.HeaderFileDecoded) != "" {
		return nil, nil
	}
	from := bus.SenderOf(nil, d.Subject)
	tok := strings.Split(d.Subject, ".")
	format := tok[len(tok)-1]
	if from.Warehouse != "" {
		if _, ok := g.reg.Warehouse(from.Warehouse); !ok {
			return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("warehouse %q is not known", from.Warehouse), "")
		}
	} else if _, ok := g.reg.Account(from.Account); !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", from.Account), "")
	}
	wantLen := 4
	if from.Warehouse != "" {
		wantLen = 5
	}
	if len(tok) != wantLen {
		return nil, bus.Reject(bus.CodeUnknownType, fmt.Sprintf("subject %s: send files on xd.raw.<account>.<format> or xd.raw.wh.<warehouse>.<format>", d.Subject), "subject")
	}
	res := g.decode(format, from, d.Header.Get(HeaderAccount), rawID(d), d.Data)
	if res.ack != nil {
		// Over HTTP the receipt is in the answer; over NATS it goes to the
		// sender like any answer, on xd.out.<account>.edi.document.
		cause := event.New()
		cause.SetID(rawID(d))
		if from.Account != "" {
			cause.SetExtension(bus.ExtAccount, from.Account)
		}
		doc, err := adapters.NewDocument(&cause, "/crossdock/gateway", format, adapters.ForReceipt, res.ackType, res.ack)
		if err != nil {
			return nil, err
		}
		res.outs = append(res.outs, bus.Outgoing{Subject: from.Subject(bus.Name(adapters.TypeDocument)), Event: doc})
	}
	if len(res.problems) == 0 {
		return res.outs, nil
	}
	r := &bus.Rejection{}
	for _, p := range res.problems {
		r.Problems = append(r.Problems, p.Problem)
	}
	cause := event.New()
	cause.SetID(rawID(d))
	cause.SetType(format)
	rej, err := bus.RejectionEvent(&cause, "", "/crossdock/gateway", from, r)
	if err != nil {
		return nil, err
	}
	// The good units' events, and the answer listing the failed ones.
	return append(res.outs, bus.Outgoing{Subject: from.Subject("event.rejected"), Event: rej}), r
}

// rawID names a raw message in a rejection: the publisher's id for it
// (the relay stored it under IntakeKey of that id, or of the content's hash
// when the publisher gave none), else its place in the stream.
func rawID(d *bus.Delivery) string {
	if id := d.Header.Get("Nats-Msg-Id"); id != "" {
		if _, own, ok := strings.Cut(id, ":"); ok && IntakeKey(bus.SenderOf(nil, d.Subject), own) == id {
			return own
		}
		return id
	}
	return fmt.Sprintf("%s:%s:%d", bus.StreamRaw, d.Subject, d.Stored.UnixNano())
}
