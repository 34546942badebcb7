// Package flow measures the hub's flow from its own streams: events in per
// second by intake channel, by lane and by tier; intake → order.accepted
// latency per tier; each tier's SLO and its error budget's burn rate; each
// durable consumer's backlog; the DLQ's depth by account and code. It
// follows XD_IN and the decision subjects of XD_OUT with
// ordered consumers (in memory, from now on) and polls consumer and stream
// info, so it sees the whole hub whichever processes run the services. The
// figures are in /metrics (Collector) and in the operator console
// (Snapshot).
package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Intake channels are the events' channel extension (bus.ExtChannel), which
// the hub's intakes set: api (POST /v1/events), portal, the format of the
// file an event was made from (x12, csv, …); an event without one was
// published on xd.in over NATS. A NATS publisher may set its own value, so
// at most MaxChannels distinct ones are counted; the rest count as
// ChannelOther.
const (
	ChannelHTTP  = bus.ChannelAPI
	ChannelNATS  = bus.ChannelNATS
	ChannelOther = "other"
	MaxChannels  = 16
)

// Config configures a Flow. Zero values are the documented defaults.
type Config struct {
	// Tiers returns the live tier policies (lane and slo of each tier).
	Tiers func() accounts.TierSet
	// TierOf returns an account's tier.
	TierOf func(account string) (accounts.Tier, bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Poll is how often consumer and DLQ figures are read; zero means 5s.
	Poll time.Duration
	// Remember is how long an order's intake waits for its decision
	// (order.accepted, order.held, order.rejected, or an event.rejected
	// of the order.placed); one not decided by then counts as unanswered,
	// a late order for its tier's SLO. Zero means an hour, or the longest
	// slo.accept_within of the tiers when that is longer.
	Remember time.Duration
	// MaxOpen bounds the intakes remembered, and the held orders waiting
	// for release; zero means 200,000 each (about 20 MB); the oldest go
	// first.
	MaxOpen int
	// HoldFor is how long a held order waits for its release before it is
	// forgotten; zero means 8 days (an order taken on one weekday only is
	// held at most a week).
	HoldFor time.Duration
	// ReleaseGrace is how long after its release time a held order may
	// stay unreleased before it counts as overdue; zero means 5 minutes
	// (the orders service looks for due orders every minute).
	ReleaseGrace time.Duration
}

// Flow gathers the figures. Build it with New, run it with Run.
type Flow struct {
	cfg Config
	js  jetstream.JetStream
	log *zap.Logger

	mu       sync.Mutex
	channels map[string]*series
	tiers    map[accounts.Tier]*series
	lanes    map[accounts.Lane]*series
	open     map[string]time.Time // account/event id → intake (XD_IN stored time)
	queue    fifo                 // open's keys, oldest first
	// early holds decisions seen before their intake: the streams are
	// followed by separate consumers, so XD_OUT's may run ahead of XD_IN's.
	early      map[string]decision
	earlyQueue fifo
	// held holds the orders held for a later ordering day, until their
	// order.accepted (the release) comes.
	held      map[string]heldOrder
	heldQueue fifo
	policy    accounts.TierSet
	wait      time.Duration                // how long an intake waits for its decision (setPolicy)
	lat       map[accounts.Tier]*latencies // intake → decision
	release   map[accounts.Tier]*latencies // release time → order.accepted of held orders
	outcomes  map[accounts.Tier]*Outcomes

	polled    time.Time
	consumers []Consumer
	dlq       []DLQDepth

	following chan struct{} // closed once Run follows every stream
}

type openKey struct {
	key string
	at  time.Time
}

// Consumer is one durable consumer's backlog.
type Consumer struct {
	Stream      string  `json:"stream"`
	Name        string  `json:"name"`
	Pending     uint64  `json:"pending"`     // stored, not yet delivered
	AckPending  int     `json:"ack_pending"` // delivered, not yet acknowledged
	Redelivered int     `json:"redelivered"`
	AckLag      float64 `json:"ack_lag_seconds"` // since the ack floor last moved, while there is work; 0 when idle
}

// DLQDepth is how many dead letters an account (or a warehouse) has with
// one code.
type DLQDepth struct {
	Account   string `json:"account,omitempty"`
	Warehouse string `json:"warehouse,omitempty"`
	Code      string `json:"code"`
	Count     uint64 `json:"count"`
}

// New returns a Flow reading js.
func New(cfg Config, js jetstream.JetStream, log *zap.Logger) *Flow {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.MaxOpen <= 0 {
		cfg.MaxOpen = 200_000
	}
	if cfg.HoldFor <= 0 {
		cfg.HoldFor = 8 * 24 * time.Hour
	}
	if cfg.ReleaseGrace <= 0 {
		cfg.ReleaseGrace = 5 * time.Minute
	}
	f := &Flow{
		cfg: cfg, js: js, log: log,
		channels: map[string]*series{}, tiers: map[accounts.Tier]*series{}, lanes: map[accounts.Lane]*series{},
		open: map[string]time.Time{}, early: map[string]decision{}, held: map[string]heldOrder{},
		lat: map[accounts.Tier]*latencies{}, release: map[accounts.Tier]*latencies{}, outcomes: map[accounts.Tier]*Outcomes{},
		following: make(chan struct{}),
	}
	for _, c := range []string{ChannelHTTP, ChannelNATS, bus.ChannelPortal} {
		f.channels[c] = &series{}
	}
	for _, t := range accounts.Tiers {
		f.tiers[t] = &series{}
		f.lat[t] = &latencies{}
		f.release[t] = &latencies{}
		f.outcomes[t] = &Outcomes{}
	}
	for _, l := range accounts.Lanes {
		f.lanes[l] = &series{}
	}
	var policy accounts.TierSet
	if cfg.Tiers != nil {
		policy = cfg.Tiers()
	}
	f.setPolicy(policy)
	return f
}

// Run follows the streams and polls until ctx ends.
func (f *Flow) Run(ctx context.Context) error {
	follows := []struct {
		stream   string
		subjects []string
		headers  bool
		handle   func(jetstream.Msg)
	}{
		{bus.StreamIn, []string{bus.AllIn}, false, f.onIntake},
		{bus.StreamOut, []string{bus.OutSubject("*", "order.accepted"), bus.OutSubject("*", "order.rejected")}, true, f.onDecision},
		// Few, and their bodies say what the headers do not: a held
		// order's release time, a rejected event's type.
		{bus.StreamOut, []string{bus.OutSubject("*", "order.held"), bus.OutSubject("*", "event.rejected")}, false, f.onDecision},
	}
	var stops []func()
	defer func() {
		for _, s := range stops {
			s()
		}
	}()
	for _, fl := range follows {
		// On a cluster the creation can fail for a moment (a leader being
		// elected, a slow meta layer): retried, bounded, before the failure
		// stops the process.
		var cons jetstream.Consumer
		err := bus.Retry{Timeout: 10 * time.Second}.Do(ctx, func(ctx context.Context) (err error) {
			cons, err = f.js.OrderedConsumer(ctx, fl.stream, jetstream.OrderedConsumerConfig{
				FilterSubjects: fl.subjects, DeliverPolicy: jetstream.DeliverNewPolicy, HeadersOnly: fl.headers,
			})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("flow: follow %s: %w", fl.stream, err)
		}
		cc, err := cons.Consume(fl.handle)
		if err != nil {
			return fmt.Errorf("flow: follow %s: %w", fl.stream, err)
		}
		stops = append(stops, cc.Stop)
	}
	close(f.following)
	t := time.NewTicker(f.cfg.Poll)
	defer t.Stop()
	for {
		f.poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Following is closed once Run follows the streams: what is stored from
// then on is counted.
func (f *Flow) Following() <-chan struct{} { return f.following }

func stored(m jetstream.Msg) time.Time {
	if md, err := m.Metadata(); err == nil {
		return md.Timestamp
	}
	return time.Now()
}

// onIntake counts an event stored in XD_IN by channel and by its account's
// tier and lane, and remembers an order's intake time. Tiers and lanes are
// counted at intake: since 2026-12-02 an event the router hands straight
// to a service of its process is never stored in XD_ROUTED.
func (f *Flow) onIntake(m jetstream.Msg) {
	h := m.Headers()
	tok := strings.Split(m.Subject(), ".")
	if len(tok) < 4 {
		return
	}
	account, name := tok[2], strings.Join(tok[3:], ".")
	if account == "wh" {
		account, name = "", ""
	}
	id, channel, named := h.Get("ce-id"), h.Get("ce-"+bus.ExtChannel), h.Get("ce-"+bus.ExtAccount)
	if h.Get("ce-specversion") == "" { // structured mode: the attributes are in the body
		var ce struct {
			ID      string `json:"id"`
			Channel string `json:"channel"`
			Account string `json:"account"`
		}
		_ = json.Unmarshal(m.Data(), &ce)
		id, channel, named = ce.ID, ce.Channel, ce.Account
	}
	if channel == "" {
		channel = ChannelNATS
	}
	at := stored(m)
	f.Intake(channel, account, name, id, at)
	// A warehouse's event is in the lane of the account it names.
	if account == "" {
		account = named
	}
	if f.cfg.TierOf != nil && account != "" {
		if tier, ok := f.cfg.TierOf(account); ok {
			f.Routed(tier, at)
		}
	}
}

// Intake records an event stored in XD_IN at `at` by channel; an
// order.placed's id is remembered to measure its acceptance.
func (f *Flow) Intake(channel, account, name, id string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	se, ok := f.channels[channel]
	if !ok {
		if len(f.channels) >= MaxChannels || !validChannel(channel) {
			channel = ChannelOther
		}
		if se, ok = f.channels[channel]; !ok {
			se = &series{}
			f.channels[channel] = se
		}
	}
	se.add(at, 1)
	if name != "order.placed" || id == "" {
		return
	}
	key := account + "/" + id
	if _, ok := f.open[key]; ok {
		return // a retried publish: the first intake counts
	}
	if d, ok := f.early[key]; ok {
		delete(f.early, key)
		f.answered(account, d.state, at, d.at)
		return
	}
	f.open[key] = at
	f.queue.push(openKey{key, at})
	f.forget(f.cfg.Now())
}

// forget drops intakes older than Remember (counting them unanswered) or
// beyond MaxOpen, early decisions older than a minute, and held orders
// older than HoldFor.
func (f *Flow) forget(now time.Time) {
	expire(&f.queue, f.open, func(t time.Time) time.Time { return t }, now, f.wait, f.cfg.MaxOpen,
		func(key string, _ time.Time) { f.unanswered(key, now) })
	expire(&f.earlyQueue, f.early, func(d decision) time.Time { return d.at }, now, time.Minute, f.cfg.MaxOpen, nil)
	expire(&f.heldQueue, f.held, func(h heldOrder) time.Time { return h.at }, now, f.cfg.HoldFor, f.cfg.MaxOpen, nil)
}

// fifo is the keys of a map in the order they were added, with the time
// each was added at: a slice read from head, compacted once half of it is
// read, so that expiring is O(1) per key however long the queue.
type fifo struct {
	items []openKey
	head  int
}

func (q *fifo) push(k openKey) { q.items = append(q.items, k) }

// expire drops from m, oldest first, the keys older than age or beyond
// max; aged, when not nil, is told of each key dropped for its age. stamp
// is the time a value was queued at. Keys deleted from m meanwhile (an
// order decided) stay queued until they reach the head, or until the queue
// holds twice max: then the oldest go whatever their age, which bounds the
// queue's memory too.
func expire[V any](q *fifo, m map[string]V, stamp func(V) time.Time, now time.Time, age time.Duration, max int, aged func(string, V)) {
	for q.head < len(q.items) {
		k := q.items[q.head]
		v, ok := m[k.key]
		current := ok && stamp(v).Equal(k.at)
		old := now.Sub(k.at) >= age
		if current && !old && len(m) <= max && len(q.items)-q.head <= 2*max {
			break
		}
		if current {
			delete(m, k.key)
			if old && aged != nil {
				aged(k.key, v)
			}
		}
		q.items[q.head] = openKey{}
		q.head++
	}
	if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// Routed records an event of a tier's account taken in at `at`.
func (f *Flow) Routed(tier accounts.Tier, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.tiers[tier]
	if !ok {
		return
	}
	s.add(at, 1)
	if p, ok := f.policy[tier]; ok {
		f.lanes[p.Lane].add(at, 1)
	}
}

// poll reads the durable consumers' info and the DLQ's subjects.
func (f *Flow) poll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Poll)
	defer cancel()
	var policy accounts.TierSet
	if f.cfg.Tiers != nil {
		policy = f.cfg.Tiers()
	}
	now := f.cfg.Now()
	var cons []Consumer
	for _, name := range []string{bus.StreamIn, bus.StreamRaw, bus.StreamRouted, bus.StreamOut, bus.StreamDLQ} {
		s, err := f.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		l := s.ListConsumers(ctx)
		for ci := range l.Info() {
			if ci.Config.Durable == "" {
				continue // ordered consumers: this package's own, or an operator's
			}
			c := Consumer{Stream: name, Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered}
			if ci.NumPending+uint64(ci.NumAckPending) > 0 {
				last := ci.Created
				if ci.AckFloor.Last != nil {
					last = *ci.AckFloor.Last
				}
				c.AckLag = max(now.Sub(last).Seconds(), 0)
			}
			cons = append(cons, c)
		}
		if err := l.Err(); err != nil && ctx.Err() == nil {
			f.log.Debug("list consumers", zap.String("stream", name), zap.Error(err))
		}
	}
	slices.SortFunc(cons, func(a, b Consumer) int { return strings.Compare(a.Stream+"/"+a.Name, b.Stream+"/"+b.Name) })
	dlq := f.dlqDepth(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if policy != nil {
		f.setPolicy(policy)
	}
	f.consumers, f.dlq, f.polled = cons, dlq, now
	f.forget(now)
}

// dlqDepth counts dead letters by subject (xd.dlq.<account>.<code>,
// xd.dlq.wh.<warehouse>.<code>).
func (f *Flow) dlqDepth(ctx context.Context) []DLQDepth {
	s, err := f.js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.AllDLQ))
	if err != nil {
		return nil
	}
	var out []DLQDepth
	for subj, n := range info.State.Subjects {
		tok := strings.Split(subj, ".")
		switch {
		case len(tok) == 5 && tok[2] == "wh":
			out = append(out, DLQDepth{Warehouse: tok[3], Code: tok[4], Count: n})
		case len(tok) == 4:
			out = append(out, DLQDepth{Account: tok[2], Code: tok[3], Count: n})
		}
	}
	slices.SortFunc(out, func(a, b DLQDepth) int {
		return strings.Compare(a.Account+"/"+a.Warehouse+"/"+a.Code, b.Account+"/"+b.Warehouse+"/"+b.Code)
	})
	return out
}

// Snapshot is every figure at one moment, as the console draws it.
type Snapshot struct {
	At        time.Time  `json:"at"`
	Tiers     []TierFlow `json:"tiers"`
	Lanes     []Rate     `json:"lanes"`
	Channels  []Rate     `json:"channels"`
	Consumers []Consumer `json:"consumers"`
	DLQ       []DLQDepth `json:"dlq"`
	// Open is how many orders' intakes wait for their decision.
	Open int `json:"open"`
}

// Rate is events in per second: the mean over the last 10 seconds, and
// the last SeriesSeconds seconds second by second for a chart.
type Rate struct {
	Name   string    `json:"name"`
	Rate   float64   `json:"rate"`
	Total  float64   `json:"total"`
	Series []float64 `json:"series"`
}

// SeriesSeconds is the length of a Rate's series.
const SeriesSeconds = 120

// TierFlow is one tier's figures.
type TierFlow struct {
	Rate
	Tier    accounts.Tier `json:"tier"`
	Lane    accounts.Lane `json:"lane"`
	Latency []Latency     `json:"latency"`
	SLO     *SLOState     `json:"slo,omitempty"`
	// Outcomes counts the tier's orders by decision since the process
	// started; Held is its held orders waiting for, or recently given,
	// their release.
	Outcomes Outcomes  `json:"outcomes"`
	Held     HeldState `json:"held"`
}

// Latency is intake → decision (order.accepted, order.held or
// order.rejected) over a window.
type Latency struct {
	Window string  `json:"window"`
	Orders uint64  `json:"orders"`
	P50    float64 `json:"p50_seconds"`
	P99    float64 `json:"p99_seconds"`
}

// LatencyWindows are the windows latency quantiles are given over.
var LatencyWindows = []time.Duration{5 * time.Minute, time.Hour}

// SLOState is a tier's objective, its burn rates and what breaches.
type SLOState struct {
	Objective    float64  `json:"objective"`
	AcceptWithin string   `json:"accept_within"`
	Burn         []Burn   `json:"burn"`
	Breaches     []Breach `json:"breaches"`
}

// Snapshot returns the figures now.
func (f *Flow) Snapshot() Snapshot {
	now := f.cfg.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Snapshot{At: now, Consumers: slices.Clone(f.consumers), DLQ: slices.Clone(f.dlq), Open: len(f.open)}
	held := f.heldStates(now)
	rate := func(name string, se *series) Rate {
		return Rate{Name: name, Rate: se.rate(now), Total: se.total, Series: se.last(now, SeriesSeconds)}
	}
	for _, c := range slices.Sorted(maps.Keys(f.channels)) {
		s.Channels = append(s.Channels, rate(c, f.channels[c]))
	}
	for _, l := range accounts.Lanes {
		s.Lanes = append(s.Lanes, rate(string(l), f.lanes[l]))
	}
	for _, t := range accounts.Tiers {
		p := f.policy[t]
		tf := TierFlow{Rate: rate(string(t), f.tiers[t]), Tier: t, Lane: p.Lane, Outcomes: *f.outcomes[t], Held: held[t]}
		for _, w := range LatencyWindows {
			qs, n := f.lat[t].quantiles(now, int(w/time.Minute), 0.5, 0.99)
			tf.Latency = append(tf.Latency, Latency{Window: fmtWindow(w), Orders: n, P50: qs[0].Seconds(), P99: qs[1].Seconds()})
		}
		if p.SLO.Set() {
			st := &SLOState{Objective: p.SLO.Objective, AcceptWithin: p.SLO.AcceptWithin.String(), Breaches: []Breach{}}
			rates := map[time.Duration]float64{}
			for _, w := range BurnWindows {
				er, n := f.lat[t].errorRate(now, w)
				rates[w] = BurnRate(er, p.SLO.Objective)
				st.Burn = append(st.Burn, Burn{Window: fmtWindow(w), Rate: rates[w], Orders: n})
			}
			st.Breaches = append(st.Breaches, breaches(rates)...)
			tf.SLO = st
		}
		s.Tiers = append(s.Tiers, tf)
	}
	if s.Consumers == nil {
		s.Consumers = []Consumer{}
	}
	if s.DLQ == nil {
		s.DLQ = []DLQDepth{}
	}
	return s
}

func trimZero(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fmtRate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// validChannel reports whether a channel value is a short lower-case word.
func validChannel(c string) bool {
	if c == "" || len(c) > 32 {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// policyOf returns a tier's SLO latency bound.
func (f *Flow) policyOf(t accounts.Tier) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.policy[t]
	return time.Duration(p.SLO.AcceptWithin), ok && p.SLO.Set()
}
