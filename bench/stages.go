package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Stage is where the strategic orders' time went between two points of
// their way through the hub: publish (or POST), stored in XD_IN,
// order.accepted stored in XD_OUT, answer seen by the account. (Until
// 2026-12-02 an order was also stored in its lane in XD_ROUTED, a stage of
// its own; the router now hands it to the orders service of its process.) The stored times are JetStream's own, read back from the
// streams after the run; the hub and the load generator share one clock.
type Stage struct {
	Phase   string    `json:"phase,omitempty"` // isolation: alone or flood
	From    string    `json:"from"`
	To      string    `json:"to"`
	Orders  int       `json:"orders"`
	Latency Latencies `json:"latency"`
}

// traced is one strategic order's way through the hub.
type traced struct {
	phase          string
	sent, seen     time.Time
	inAt, answerAt time.Time
}

// point is a place on an order's way, read from a stream.
type point struct {
	name, stream string
	subject      func(account string) string
	idHeader     string // the header naming the order's event id
	at           func(*traced) *time.Time
}

var points = []point{
	{"XD_IN", bus.StreamIn, func(a string) string { return bus.InSubject(bus.Sender{Account: a}, "order.placed") }, "ce-id",
		func(t *traced) *time.Time { return &t.inAt }},
	{"XD_OUT accepted", bus.StreamOut, func(a string) string { return bus.OutSubject(a, "order.accepted") }, "ce-causationid",
		func(t *traced) *time.Time { return &t.answerAt }},
}

// stages reads when each traced order reached each stream and sums up the
// time between consecutive points, per phase.
func (r *runner) stages(ctx context.Context) ([]Stage, error) {
	js, err := jetstream.New(r.observer)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range points {
		for _, a := range r.accountsOf(accounts.Strategic) {
			if err := r.readPoint(ctx, js, p, a.id); err != nil {
				return nil, err
			}
		}
	}
	var out []Stage
	for _, phase := range r.phases() {
		way := []string{"publish", "XD_IN", "XD_OUT accepted", "answer seen"}
		if r.cfg.Transport != "nats" {
			way[0] = "POST"
		}
		for i := 1; i < len(way); i++ {
			var ds []time.Duration
			for _, t := range r.traced {
				from, to := t.at(way[i-1]), t.at(way[i])
				if t.phase != phase || from.IsZero() || to.IsZero() {
					continue
				}
				ds = append(ds, to.Sub(from))
			}
			out = append(out, Stage{Phase: phase, From: way[i-1], To: way[i], Orders: len(ds), Latency: summarise(ds)})
		}
	}
	return out, nil
}

// phases are the phases the traced orders were sent in, in order.
func (r *runner) phases() []string {
	if r.cfg.Scenario == "isolation" {
		return []string{phaseAlone, phaseFlood}
	}
	return []string{""}
}

func (t *traced) at(name string) time.Time {
	switch name {
	case "publish", "POST":
		return t.sent
	case "answer seen":
		return t.seen
	}
	for _, p := range points {
		if p.name == name {
			return *p.at(t)
		}
	}
	return time.Time{}
}

// readPoint reads one account's messages of p's subject from the start of
// its stream and notes when each traced order's was stored.
func (r *runner) readPoint(ctx context.Context, js jetstream.JetStream, p point, account string) error {
	c, err := js.OrderedConsumer(ctx, p.stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{p.subject(account)}})
	if err != nil {
		return fmt.Errorf("read %s: %w", p.stream, err)
	}
	for {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return fmt.Errorf("read %s: %w", p.stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			t := r.traced[m.Headers().Get(p.idHeader)]
			if t == nil {
				continue
			}
			if md, err := m.Metadata(); err == nil {
				*p.at(t) = md.Timestamp
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read %s: %w", p.stream, err)
		}
		if n == 0 {
			return nil
		}
	}
}
