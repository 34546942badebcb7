package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/lanes"
)

// Content types of the CloudEvents HTTP binding's structured and batch modes.
const (
	contentStructured = "application/cloudevents+json"
	contentBatch      = "application/cloudevents-batch+json"
)

// Gateway is the HTTP intake of CloudEvents.
type Gateway struct {
	bus   *bus.Bus
	reg   *accounts.Registry
	check *intake.Checker
	door  *Door
	log   *zap.Logger
	slots map[accounts.Lane]chan struct{}
	gov   *lanes.Governor // strict priority across lanes, when it keeps one
}

// LaneRequests is how many requests of each lane the gateway works on at
// once (checking, storing); more wait their turn. The lanes of the
// consumers start here: a flood of stable accounts' requests holds at most
// the bulk lane's few slots, and no more of the CPU, while a strategic
// account's request finds a free priority slot. A request takes its slot
// only once its body is read (Door), so a slow client holds none.
var LaneRequests = map[accounts.Lane]int{accounts.Priority: 64, accounts.Standard: 16, accounts.Bulk: 8}

// New returns the gateway. door may be nil: a Door with its defaults; gov
// may be nil: no priority across lanes beyond their slots.
func New(b *bus.Bus, reg *accounts.Registry, check *intake.Checker, door *Door, gov *lanes.Governor, log *zap.Logger) *Gateway {
	if door == nil {
		door = NewDoor(reg, DoorConfig{})
	}
	g := &Gateway{bus: b, reg: reg, check: check, door: door, gov: gov, log: log, slots: map[accounts.Lane]chan struct{}{}}
	for _, l := range accounts.Lanes {
		g.slots[l] = make(chan struct{}, max(LaneRequests[l], 1))
	}
	return g
}

// acquire waits for a slot in the sender's lane (warehouses: standard),
// then for the lane's turn (a bulk request goes while no priority request
// or event is at work in this process: lanes.Governor), and returns its
// release, or false when the request ended first.
func (g *Gateway) acquire(r *http.Request, from bus.Sender) (func(), bool) {
	lane := g.door.laneOf(from)
	slot, ok := g.slots[lane]
	if !ok {
		return func() {}, true
	}
	select {
	case slot <- struct{}{}:
	case <-r.Context().Done():
		return nil, false
	}
	done := g.gov.Enter(r.Context(), lane)
	return func() { done(); <-slot }, true
}

// Handler serves POST /v1/events.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", g.postEvents)
	return mux
}

// postEvents takes one event (binary or structured mode) or a batch. A batch
// is all or nothing: one bad event and none is stored. The answer is 202 only
// once JetStream has stored every event.
//
// The order of the steps is the defence against slow and greedy clients:
// the sender's own cap on concurrent requests first (Door), then the body,
// read under a deadline, then the sender's quota, and only then a slot of
// its lane, for the checks and the store.
func (g *Gateway) postEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := g.reg.AuthenticateRequest(r)
	if !ok {
		problem.Unauthorized(w, "crossdock", "a valid API key is required (Authorization: Bearer <key>)")
		return
	}
	from := bus.Sender{Account: id.Account, Warehouse: id.Warehouse}
	mode, err := modeOf(r)
	if err != nil {
		problem.One(w, http.StatusUnsupportedMediaType, bus.CodeUnsupportedMedia, err.Error(), "Content-Type")
		return
	}
	leave, ok := g.door.admit(w, r, from)
	if !ok {
		return
	}
	defer leave()
	body, ok := g.door.readBody(w, r, int64(g.check.MaxSize()), 1, "request", bus.CodeInvalidJSON)
	if !ok {
		return
	}

	events, errs := decodeRequest(r.Context(), mode, r.Header, body)
	if wait, ok := g.door.Allow(from, max(len(events), 1), len(body)); !ok {
		rateLimited(w, wait)
		return
	}
	release, ok := g.acquire(r, from)
	if !ok {
		return // the client has gone
	}
	defer release()
	errs = append(errs, g.checkAll(mode, from, events, len(body))...)
	if len(errs) > 0 {
		status := http.StatusBadRequest
		for _, e := range errs {
			if e.Code == bus.CodeAccountMismatch {
				status = http.StatusForbidden
			}
		}
		problem.Write(w, status, rejectedDetail(len(events), len(errs)), errs)
		return
	}

	ids, err := g.store(r.Context(), from, bus.ChannelAPI, events)
	if err != nil {
		notStored(w, g.log, from, err, "retry with the same ids")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string][]string{"accepted": ids})
}

// StorageFullRetry is the Retry-After of a 507 storage_full: room comes
// back as the oldest messages age out, or when the operator raises the
// limit, not within a second.
const StorageFullRetry = time.Minute

// notStored answers a request whose events JetStream did not store (some
// may have been: retry tells the client how to send them again without
// doubles). A stream at its limit (bus.StreamFull) is 507 storage_full,
// anything else 503 processing_failed.
func notStored(w http.ResponseWriter, log *zap.Logger, from bus.Sender, err error, retry string) {
	if bus.StreamFull(err) {
		log.Warn("events refused: a stream is at its limit (--stream-max-bytes)", zap.String("account", from.Account),
			zap.String("warehouse", from.Warehouse), zap.Error(err))
		w.Header().Set("Retry-After", retryAfter(StorageFullRetry))
		problem.One(w, http.StatusInsufficientStorage, bus.CodeStorageFull,
			"the hub's storage for incoming events is full; "+retry+" later", "")
		return
	}
	log.Error("store events", zap.String("account", from.Account), zap.String("warehouse", from.Warehouse), zap.Error(err))
	w.Header().Set("Retry-After", "1")
	problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "the events could not be stored; "+retry, "")
}

// rateLimited answers a request over its sender's quota.
func rateLimited(w http.ResponseWriter, wait time.Duration) {
	wait = min(wait, time.Hour)
	w.Header().Set("Retry-After", retryAfter(wait))
	problem.One(w, http.StatusTooManyRequests, bus.CodeRateLimited,
		fmt.Sprintf("the account is over its quota (policy key quota); retry in %s", wait.Round(time.Millisecond)), "")
}

// store stores checked events as they came in by channel and returns their
// ids. Each is stored once, in XD_IN; one the router may take is sealed
// (intake.HeaderRouted) so that the router of this process, which can
// verify the seal, hands it to its service without checking it again (a
// router in another process checks it as any NATS arrival). Until
// 2026-12-02 the gateway also stored each event in its lane in XD_ROUTED:
// a second write per event (docs/performance.md, "k").
func (g *Gateway) store(ctx context.Context, from bus.Sender, channel string, events []*event.Event) ([]string, error) {
	msgs := make([]*nats.Msg, len(events))
	msgIDs := make([]string, len(events))
	ids := make([]string, len(events))
	for i, ev := range events {
		ev.SetExtension(bus.ExtChannel, channel)
		msgs[i], msgIDs[i], ids[i] = bus.Encode(bus.StoreSubject(from, bus.Name(ev.Type())), ev), IntakeKey(from, ev.ID()), ev.ID()
		if g.check.Lane(ev) != "" {
			msgs[i].Header.Set(intake.HeaderRouted, g.check.Seal(msgIDs[i], ev.Data()))
		}
	}
	if _, err := g.bus.PublishMsgs(ctx, msgs, msgIDs); err != nil {
		return nil, err
	}
	return ids, nil
}

// checkAll returns the problems of decoded events (nil entries were not
// decoded and are skipped): ids unique within a batch, and each event's
// checks. size is the request's size, which a lone event is measured by.
func (g *Gateway) checkAll(m mode, from bus.Sender, events []*event.Event, size int) []problem.EventErrors {
	var errs []problem.EventErrors
	seen := make(map[string]int, len(events))
	for i, ev := range events {
		if ev == nil {
			continue
		}
		if j, dup := seen[ev.ID()]; dup && m == modeBatch {
			errs = append(errs, problemAt(m, i, ev.ID(), bus.Problem{Code: bus.CodeDuplicate,
				Message: fmt.Sprintf("event #%d of the batch has the same id; ids are unique within a batch", j), Field: "id"}))
			continue
		}
		seen[ev.ID()] = i
		n := len(ev.Data())
		if len(events) == 1 {
			n = size
		}
		for _, p := range g.check.Check(ev, from, n) {
			errs = append(errs, problemAt(m, i, ev.ID(), p))
		}
	}
	return errs
}

// Submit takes events from a sender authenticated by other means than an
// API key (the portal's session) through the same path as POST
// /v1/events: every event is checked (a batch is all or nothing) and, when
// none has a problem, stored in XD_IN, marked with channel
// (bus.ChannelPortal for the portal). It returns the stored ids, or the
// problems (with nothing stored), or an error when JetStream did not store
// them (retry with the same ids).
func (g *Gateway) Submit(ctx context.Context, from bus.Sender, channel string, events ...*event.Event) ([]string, []problem.EventErrors, error) {
	m, size := modeStructured, 0
	if len(events) > 1 {
		m = modeBatch
	}
	for _, ev := range events {
		if ev == nil {
			return nil, nil, errors.New("submit: a nil event")
		}
		size += len(ev.Data())
	}
	// The sender's quota holds here as over HTTP.
	if wait, ok := g.door.Allow(from, max(len(events), 1), size); !ok {
		return nil, []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeRateLimited,
			Message: fmt.Sprintf("the account is over its quota (policy key quota); retry in %s", min(wait, time.Hour).Round(time.Millisecond))}}}, nil
	}
	if errs := g.checkAll(m, from, events, size); len(errs) > 0 {
		return nil, errs, nil
	}
	ids, err := g.store(ctx, from, channel, events)
	if err != nil {
		return nil, nil, fmt.Errorf("submit: store: %w", err)
	}
	return ids, nil, nil
}

type mode int

const (
	modeBinary mode = iota
	modeStructured
	modeBatch
)

// modeOf picks the binding mode: a ce-specversion header means binary mode,
// otherwise the content type decides.
func modeOf(r *http.Request) (mode, error) {
	if r.Header.Get("ce-specversion") != "" {
		return modeBinary, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case contentStructured:
		return modeStructured, nil
	case contentBatch:
		return modeBatch, nil
	}
	return 0, fmt.Errorf("content type %q is not a CloudEvent: send %s, %s, or binary mode (ce-* headers)",
		r.Header.Get("Content-Type"), contentStructured, contentBatch)
}

// decodeRequest reads the events of a request; a nil entry is an event that
// could not be read, with its problems in errs.
func decodeRequest(ctx context.Context, m mode, h http.Header, body []byte) ([]*event.Event, []problem.EventErrors) {
	switch m {
	case modeBinary:
		if !utf8.ValidString(h.Get("ce-id")) {
			return []*event.Event{nil}, []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeSchemaViolation, Message: "id is not valid UTF-8", Field: "id"}}}
		}
		ev, err := binding.ToEvent(ctx, cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body))))
		if err == nil {
			err = ev.Validate()
		}
		if err != nil {
			return []*event.Event{nil}, []problem.EventErrors{{Problem: attributeProblem(err)}}
		}
		if p := intake.CheckLimits(ev); p != nil {
			return []*event.Event{nil}, []problem.EventErrors{{Problem: *p}}
		}
		if p := bus.CheckAttributes(ev); p != nil {
			return []*event.Event{nil}, []problem.EventErrors{{Problem: *p}}
		}
		return []*event.Event{ev}, nil
	case modeStructured:
		ev, p := decodeStructured(body)
		if p != nil {
			return []*event.Event{nil}, []problem.EventErrors{{Problem: *p}}
		}
		return []*event.Event{ev}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeInvalidJSON, Message: "a batch is a JSON array of structured events: " + err.Error()}}}
	}
	if len(raws) == 0 {
		return nil, []problem.EventErrors{{Problem: bus.Problem{Code: bus.CodeSchemaViolation, Message: "the batch is empty"}}}
	}
	events := make([]*event.Event, len(raws))
	var errs []problem.EventErrors
	for i, raw := range raws {
		ev, p := decodeStructured(raw)
		if p != nil {
			errs = append(errs, problemAt(modeBatch, i, "", *p))
			continue
		}
		events[i] = ev
	}
	return events, errs
}

func decodeStructured(b []byte) (*event.Event, *bus.Problem) {
	if !json.Valid(b) {
		return nil, &bus.Problem{Code: bus.CodeInvalidJSON, Message: "the body is not valid JSON"}
	}
	// Read before the decoder, which would replace invalid UTF-8 in the id
	// with U+FFFD and so store the event under another id than the one sent.
	if _, raw, ok := structuredID(b); ok && !utf8.Valid(raw) {
		return nil, &bus.Problem{Code: bus.CodeSchemaViolation, Message: "id is not valid UTF-8", Field: "id"}
	}
	var ev event.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		p := attributeProblem(err)
		return nil, &p
	}
	if err := ev.Validate(); err != nil {
		p := attributeProblem(err)
		return nil, &p
	}
	if p := intake.CheckLimits(&ev); p != nil {
		return nil, p
	}
	if p := bus.CheckAttributes(&ev); p != nil {
		return nil, p
	}
	if ev.DataContentType() == "" && len(ev.DataEncoded) > 0 && !ev.DataBase64 {
		// JSON event format §3.1.2: "data" without datacontenttype is JSON,
		// and says so explicitly once re-encoded in another binding.
		ev.SetDataContentType(event.ApplicationJSON)
	}
	return &ev, nil
}

// attributeProblem names the CloudEvents attribute an sdk error is about.
func attributeProblem(err error) bus.Problem {
	var verr event.ValidationError
	if errors.As(err, &verr) && len(verr) > 0 {
		attr := slices.Min(slices.Collect(maps.Keys(verr)))
		return bus.Problem{Code: bus.CodeSchemaViolation, Message: attr + ": " + verr[attr].Error(), Field: attr}
	}
	return bus.Problem{Code: bus.CodeSchemaViolation, Message: strings.TrimSpace(err.Error())}
}

func problemAt(m mode, i int, id string, p bus.Problem) problem.EventErrors {
	e := problem.EventErrors{Problem: p, ID: id}
	if m == modeBatch {
		e.Index = &i
	}
	return e
}

func rejectedDetail(events, problems int) string {
	if events > 1 {
		return fmt.Sprintf("%d problem(s) in a batch of %d events; none was stored", problems, events)
	}
	return "the event was not stored"
}
