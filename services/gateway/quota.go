package gateway

import (
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// WarehouseQuota is the quota of every warehouse: warehouses have no tier;
// they get the integrated tier's default.
var WarehouseQuota = accounts.Quota{EventsPerSecond: 500, BytesPerSecond: 4 << 20, BurstSeconds: 10}

// quota is one sender's two token buckets. Its methods are called under
// Door.mu.
type quota struct {
	events, bytes *rate.Limiter
}

// newQuota returns the buckets of q, full. The bytes bucket holds at least
// the largest file the hub takes, so that one file within the rate always
// passes.
func newQuota(q accounts.Quota, now time.Time) *quota {
	out := &quota{}
	out.set(q, now)
	return out
}

// set makes the buckets follow q (a tier change), keeping what they hold.
func (q *quota) set(p accounts.Quota, now time.Time) {
	burst := p.BurstSeconds
	if burst <= 0 {
		burst = 1
	}
	evLimit, evBurst := rate.Inf, 0
	if p.EventsPerSecond > 0 {
		evLimit, evBurst = rate.Limit(p.EventsPerSecond), int(math.Ceil(p.EventsPerSecond*burst))
	}
	byLimit, byBurst := rate.Inf, 0
	if p.BytesPerSecond > 0 {
		byLimit, byBurst = rate.Limit(p.BytesPerSecond), max(int(math.Ceil(p.BytesPerSecond*burst)), MaxFileSize+MaxHeaderBytes)
	}
	if q.events == nil {
		q.events, q.bytes = rate.NewLimiter(evLimit, evBurst), rate.NewLimiter(byLimit, byBurst)
		return
	}
	q.events.SetLimitAt(now, evLimit)
	q.events.SetBurstAt(now, evBurst)
	q.bytes.SetLimitAt(now, byLimit)
	q.bytes.SetBurstAt(now, byBurst)
}

// take takes events and bytes from the buckets, or nothing and how long
// until they would hold that much.
func (q *quota) take(now time.Time, events, bytes int) (wait time.Duration, ok bool) {
	ev := q.events.ReserveN(now, events)
	by := q.bytes.ReserveN(now, bytes)
	if !ev.OK() || !by.OK() {
		// More than a bucket ever holds: only a smaller request can pass.
		ev.CancelAt(now)
		by.CancelAt(now)
		return time.Duration(math.MaxInt64), false
	}
	wait = max(ev.DelayFrom(now), by.DelayFrom(now))
	if wait > 0 {
		ev.CancelAt(now)
		by.CancelAt(now)
		return wait, false
	}
	return 0, true
}

// quotaOf is the sender's quota now: its account's effective policy's, or
// WarehouseQuota.
func (d *Door) quotaOf(from bus.Sender) accounts.Quota {
	if from.Warehouse == "" {
		if e, ok := d.reg.Account(from.Account); ok {
			return e.Policy.Quota
		}
	}
	return WarehouseQuota
}

// Allow takes events and bytes from the sender's quota. When the sender is
// over it, it takes nothing and says how long to wait before sending this
// again. The buckets follow the account's policy as it changes.
func (d *Door) Allow(from bus.Sender, events, bytes int) (retry time.Duration, ok bool) {
	q := d.quotaOf(from)
	if q.EventsPerSecond == 0 && q.BytesPerSecond == 0 {
		return 0, true
	}
	s := d.state(from)
	now := d.cfg.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case s.quota == nil:
		s.quota, s.quotaKey = newQuota(q, now), q
	case s.quotaKey != q:
		s.quota.set(q, now)
		s.quotaKey = q
	}
	return s.quota.take(now, events, bytes)
}
