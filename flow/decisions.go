package flow

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Decisions an order's intake is answered with: the orders service's
// order.accepted, order.held or order.rejected, or the router's
// event.rejected of the order.placed (counted as rejected).
const (
	Accepted = "accepted"
	Held     = "held"
	Rejected = "rejected"
)

// Outcomes counts a tier's orders by how they were answered, since this
// process started following the streams.
type Outcomes struct {
	Accepted uint64 `json:"accepted"`
	Held     uint64 `json:"held"`
	Rejected uint64 `json:"rejected"`
	// Unanswered intakes had no decision within Remember: each is a late
	// order for the SLO.
	Unanswered uint64 `json:"unanswered"`
	// Released held orders were accepted on their ordering day.
	Released uint64 `json:"released"`
}

// decision is a decision seen before its intake.
type decision struct {
	at    time.Time
	state string
}

// heldOrder is an order held for its ordering day.
type heldOrder struct {
	tier      accounts.Tier
	at        time.Time // when the order.held was stored
	releaseAt time.Time // its release_at; zero when unknown
}

// onDecision reads an order's decision from XD_OUT.
func (f *Flow) onDecision(m jetstream.Msg) {
	if d, ok := decisionOf(m.Subject(), m.Headers(), m.Data()); ok {
		f.Decided(d.account, d.cause, d.state, d.releaseAt, stored(m))
	}
}

// readDecision is a decision as stored in XD_OUT.
type readDecision struct {
	account, cause, state string
	releaseAt             time.Time
}

// decisionOf reads the decision a message of XD_OUT holds: the subject
// names it and its account, causationid the order.placed it answers, the
// body a held order's release time. An event.rejected is a decision only
// when it rejects an order.placed.
func decisionOf(subject string, h nats.Header, data []byte) (readDecision, bool) {
	tok := strings.Split(subject, ".")
	if len(tok) != 5 {
		return readDecision{}, false
	}
	d := readDecision{account: tok[2], cause: h.Get("ce-" + bus.ExtCausationID), state: tok[4]}
	switch tok[3] + "." + tok[4] {
	case "order.accepted", "order.rejected":
	case "order.held":
		var b struct {
			ReleaseAt time.Time `json:"release_at"`
		}
		_ = json.Unmarshal(data, &b)
		d.releaseAt = b.ReleaseAt
	case "event.rejected":
		// The router's refusal of an order.placed (a schema violation, an
		// unknown account) answers it too; the rejections of other events
		// are none of the flow's business.
		var b bus.RejectedData
		if json.Unmarshal(data, &b) != nil || bus.Name(b.RejectedType) != "order.placed" {
			return readDecision{}, false
		}
		d.state = Rejected
	default:
		return readDecision{}, false
	}
	return d, d.cause != ""
}

// Decided records that account's order placed by event causeID was
// decided (Accepted, Held or Rejected) at `at`; releaseAt is a held order's
// release time (zero when unknown or not held). The first decision answers
// the intake and is measured against it; an order.accepted of an order
// held earlier is its release, measured against its release time.
func (f *Flow) Decided(account, causeID, state string, releaseAt, at time.Time) {
	if causeID == "" {
		return
	}
	key := account + "/" + causeID
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.held[key]; ok && state == Accepted {
		delete(f.held, key)
		f.released(h, at)
		return
	}
	if state == Held {
		f.hold(key, account, releaseAt, at)
	}
	intake, ok := f.open[key]
	if !ok {
		if _, seen := f.early[key]; !seen {
			f.early[key] = decision{at: at, state: state}
			f.earlyQueue.push(openKey{key, at})
		}
		return
	}
	delete(f.open, key)
	f.answered(account, state, intake, at)
}

// answered measures an order's intake → decision latency in its account's
// tier and counts its outcome. f.mu is held.
func (f *Flow) answered(account, state string, intake, at time.Time) {
	tier, ok := f.tierOf(account)
	if !ok {
		return
	}
	o := f.outcomes[tier]
	switch state {
	case Accepted:
		o.Accepted++
	case Held:
		o.Held++
	case Rejected:
		o.Rejected++
	}
	f.lat[tier].observe(at, max(at.Sub(intake), 0), time.Duration(f.policy[tier].SLO.AcceptWithin))
}

// hold remembers a held order until its release. f.mu is held.
func (f *Flow) hold(key, account string, releaseAt, at time.Time) {
	tier, ok := f.tierOf(account)
	if !ok {
		return
	}
	if _, ok := f.held[key]; ok {
		return
	}
	f.held[key] = heldOrder{tier: tier, at: at, releaseAt: releaseAt}
	f.heldQueue.push(openKey{key, at})
}

// released counts a held order's release and, when its release time is
// known, how long after it the order was accepted. f.mu is held.
func (f *Flow) released(h heldOrder, at time.Time) {
	f.outcomes[h.tier].Released++
	if !h.releaseAt.IsZero() {
		f.release[h.tier].observe(at, max(at.Sub(h.releaseAt), 0), 0)
	}
}

// unanswered counts an intake that had no decision within Remember as a
// late order of its tier, at now. f.mu is held.
func (f *Flow) unanswered(key string, now time.Time) {
	account, _, _ := strings.Cut(key, "/")
	tier, ok := f.tierOf(account)
	if !ok {
		return
	}
	f.outcomes[tier].Unanswered++
	f.lat[tier].miss(now)
}

// tierOf is an account's tier, when it is one the flow follows. f.mu is held.
func (f *Flow) tierOf(account string) (accounts.Tier, bool) {
	if f.cfg.TierOf == nil {
		return "", false
	}
	tier, ok := f.cfg.TierOf(account)
	if !ok || f.lat[tier] == nil {
		return "", false
	}
	return tier, true
}

// setPolicy takes the tier policies and the time an intake waits for its
// decision: Remember, or an hour or the longest accept_within of the
// tiers, whichever is longer, so that no order within its tier's bound is
// called unanswered. f.mu is held (or f is not shared yet).
func (f *Flow) setPolicy(p accounts.TierSet) {
	f.policy = p
	f.wait = f.cfg.Remember
	if f.wait > 0 {
		return
	}
	f.wait = time.Hour
	for t := range p {
		f.wait = max(f.wait, time.Duration(p[t].SLO.AcceptWithin))
	}
}

// HeldState is a tier's held orders: how many wait for their ordering day,
// how many are overdue (their release time passed more than ReleaseGrace
// ago), and how long after their release time the ones released in the
// last hour were accepted.
type HeldState struct {
	Waiting  int     `json:"waiting"`
	Overdue  int     `json:"overdue"`
	Released uint64  `json:"released_1h"`
	DelayP50 float64 `json:"release_delay_p50_seconds"`
	DelayP99 float64 `json:"release_delay_p99_seconds"`
}

// heldStates is every tier's HeldState at now. f.mu is held.
func (f *Flow) heldStates(now time.Time) map[accounts.Tier]HeldState {
	out := map[accounts.Tier]HeldState{}
	for _, h := range f.held {
		s := out[h.tier]
		s.Waiting++
		if !h.releaseAt.IsZero() && now.Sub(h.releaseAt) > f.cfg.ReleaseGrace {
			s.Overdue++
		}
		out[h.tier] = s
	}
	for t, l := range f.release {
		qs, n := l.quantiles(now, histMinutes, 0.5, 0.99)
		s := out[t]
		s.Released, s.DelayP50, s.DelayP99 = n, qs[0].Seconds(), qs[1].Seconds()
		out[t] = s
	}
	return out
}
