package router

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Lane intake: an intake subject (xd.in.<account>.<name>) names the account
// but not its tier, so one consumer of xd.in.> would make a strategic event
// wait behind every stable event published before it. The router therefore
// runs one durable consumer per lane (router-priority, -standard, -bulk),
// each filtered on the intake subjects of the accounts in that lane
// (xd.in.<account>.>; warehouses' xd.in.wh.> in the standard lane), and
// keeps the filters in step with the registry.
//
// Filters change while events arrive, and JetStream does not go back over
// messages a consumer has passed when its filter grows. So the durable
// "router" consumer of xd.in.> stays, as a sweep that guarantees every
// event is routed or rejected: an event of an account that a lane has
// covered since a known stream sequence (metadataSince, written after the
// filter took effect) it only acknowledges, reading no more than its
// subject and sequence; any other event (an unknown account, one published
// while its lane's filter was changing) it checks and routes itself.
// Routing twice is harmless: JetStream stores the second copy in XD_ROUTED
// once, by Nats-Msg-Id. An account that changes lanes is added to its new
// lane first and removed from the old one only once that lane has
// delivered and acknowledged everything it had.

// metadataSince is the consumer metadata key holding the XD_IN sequence
// after which the lane's filter has been in effect.
const metadataSince = "crossdock_since"

// noAccounts is the filter of a lane without accounts: an empty filter would
// take every subject, and no account is called "_none".
const noAccounts = "xd.in._none.>"

// warehouses is the filter of warehouse intake, consumed in the standard lane.
const warehouses = "xd.in.wh.>"

// laneView is what the router last read of a lane's consumer.
type laneView struct {
	filters map[string]bool
	since   uint64 // 0: unknown, the lane covers nothing for the sweep
	drained bool   // nothing pending or unacknowledged
	config  jetstream.ConsumerConfig
}

// lane is one lane's intake consumer.
type lane struct {
	name    accounts.Lane
	durable string
	view    atomic.Pointer[laneView]
	leaving map[string]bool // filters no longer wanted, kept until drained
}

// filterKey is the lane filter that covers an intake subject.
func filterKey(subject string) string {
	tok := strings.SplitN(subject, ".", 4)
	if len(tok) < 4 || tok[0] != "xd" || tok[1] != "in" {
		return ""
	}
	if tok[2] == "wh" {
		return warehouses
	}
	return "xd.in." + tok[2] + ".>"
}

// wanted is the filter the registry asks for in lane l.
func (s *Service) wanted(l accounts.Lane) []string {
	var out []string
	for _, id := range s.reg.AccountsIn(l) {
		out = append(out, "xd.in."+id+".>")
	}
	if l == accounts.Standard {
		out = append(out, warehouses)
	}
	if len(out) == 0 {
		out = []string{noAccounts}
	}
	slices.Sort(out)
	return out
}

// refresh reads the lanes' consumers.
func (s *Service) refresh(ctx context.Context) {
	for _, l := range s.lanes {
		c, err := s.bus.JetStream().Consumer(ctx, bus.StreamIn, l.durable)
		if err != nil {
			continue // not created yet, or NATS is away: keep the last view
		}
		info := c.CachedInfo()
		v := &laneView{filters: map[string]bool{},
			drained: info.NumPending == 0 && info.NumAckPending == 0, config: info.Config}
		for _, f := range info.Config.FilterSubjects {
			v.filters[f] = true
		}
		if info.Config.FilterSubject != "" {
			v.filters[info.Config.FilterSubject] = true
		}
		v.since, _ = strconv.ParseUint(info.Config.Metadata[metadataSince], 10, 64)
		l.view.Store(v)
	}
}

// reconcile brings a lane's filter in step with the registry: accounts new
// to the lane are added at once (and the lane's since moved past the
// change), accounts that left are removed once the lane is drained.
func (s *Service) reconcile(ctx context.Context, l *lane) error {
	v := l.view.Load()
	if v == nil {
		return nil
	}
	want := s.wanted(l.name)
	next := map[string]bool{}
	for _, f := range want {
		next[f] = true
	}
	added := false
	for _, f := range want {
		if !v.filters[f] {
			added = true
		}
	}
	for f := range v.filters {
		if next[f] {
			delete(l.leaving, f)
			continue
		}
		if l.leaving[f] && v.drained {
			delete(l.leaving, f)
			continue
		}
		l.leaving[f] = true
		next[f] = true
	}
	if len(next) > 1 {
		delete(next, noAccounts)
	}
	filters := slices.Sorted(maps.Keys(next))
	if slices.Equal(filters, slices.Sorted(maps.Keys(v.filters))) && v.since != 0 {
		return nil
	}
	cfg := v.config
	cfg.FilterSubject, cfg.FilterSubjects = "", filters
	cfg.Metadata = maps.Clone(cfg.Metadata)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]string{}
	}
	if added || v.since == 0 {
		// Until the filter is in effect and the stream's last sequence is
		// read, the lane covers nothing for the sweep.
		delete(cfg.Metadata, metadataSince)
		if _, err := s.bus.JetStream().UpdateConsumer(ctx, bus.StreamIn, cfg); err != nil {
			return err
		}
		st, err := s.bus.JetStream().Stream(ctx, bus.StreamIn)
		if err != nil {
			return err
		}
		cfg.Metadata[metadataSince] = strconv.FormatUint(max(st.CachedInfo().State.LastSeq, 1), 10)
	}
	_, err := s.bus.JetStream().UpdateConsumer(ctx, bus.StreamIn, cfg)
	if err == nil && s.log != nil {
		s.log.Info("lane filter", zap.String("consumer", l.durable), zap.Int("filters", len(filters)), zap.String("since", cfg.Metadata[metadataSince]))
	}
	return err
}

// maintain refreshes the lanes' views four times a second and reconciles
// their filters every second, until ctx ends.
func (s *Service) maintain(ctx context.Context) {
	lastReconcile := time.Time{}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for ctx.Err() == nil {
		s.refresh(ctx)
		if time.Since(lastReconcile) >= time.Second {
			lastReconcile = time.Now()
			for _, l := range s.lanes {
				if err := s.reconcile(ctx, l); err != nil && ctx.Err() == nil {
					s.log.Warn("lane filter", zap.String("consumer", l.durable), zap.Error(err))
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// covered reports whether a lane routes this intake event: its account is
// in the lane's filter and the event came after the filter took effect, so
// JetStream delivers it to that lane. A lane gives an account up only after
// it has delivered and acknowledged everything it had (reconcile), and the
// account's new lane covers it from before that, so the sweep need not wait
// for the lane to get there.
func (s *Service) covered(d *bus.Delivery) bool {
	key := filterKey(d.Subject)
	if key == "" || d.Seq == 0 {
		return false
	}
	for _, l := range s.lanes {
		if v := l.view.Load(); v != nil && v.filters[key] && v.since != 0 && d.Seq > v.since {
			return true
		}
	}
	return false
}
