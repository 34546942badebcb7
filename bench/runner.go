package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// connect opens the observer (the operator's connection, for the baseline
// and the stream reads) and one connection per account as its own NATS
// user, on which the account watches its answers as its ERP would. One
// subscription for every account's answers made a strategic answer wait
// behind a flood's in the bench's own queue (docs/performance.md).
func (r *runner) connect() error {
	r.pending = make(map[string]sent)
	r.traced = make(map[string]*traced)
	r.stats = make(map[accounts.Tier]*tierStats)
	for _, t := range accounts.Tiers {
		r.stats[t] = &tierStats{}
	}
	r.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var err error
	r.observer, err = nats.Connect(r.natsURL, nats.Token(r.admin), nats.Name("crossdock-bench-observer"))
	if err != nil {
		return fmt.Errorf("connect observer: %w", err)
	}
	for _, a := range r.fleet {
		a.nc, err = nats.Connect(r.natsURL, nats.UserInfo(a.id, a.key), nats.CustomInboxPrefix("_INBOX_"+a.id), nats.Name(a.id))
		if err != nil {
			return fmt.Errorf("connect as %s: %w", a.id, err)
		}
		for _, name := range []string{"order.accepted", "order.rejected", "order.held", "event.rejected"} {
			sub, err := a.nc.Subscribe(bus.OutSubject(a.id, name), r.observe)
			if err != nil {
				return fmt.Errorf("subscribe to %s's %s: %w", a.id, name, err)
			}
			_ = sub.SetPendingLimits(-1, -1)
		}
		if err := a.nc.Flush(); err != nil {
			return err
		}
		if r.cfg.Transport != "nats" {
			continue
		}
		if a.js, err = jetstream.New(a.nc, jetstream.WithPublishAsyncMaxPending(r.cfg.Window)); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) close() {
	for _, a := range r.fleet {
		if a.nc != nil {
			a.nc.Close()
		}
	}
	if r.observer != nil {
		r.observer.Close()
	}
}

// observe matches an answer to the order it answers, by causationid.
func (r *runner) observe(m *nats.Msg) {
	now := time.Now()
	cause := m.Header.Get("ce-causationid")
	typ := m.Header.Get("ce-type")
	r.mu.Lock()
	s, ok := r.pending[cause]
	if ok {
		delete(r.pending, cause)
		st := r.stats[s.tier]
		if typ == "crossdock.order.accepted.v1" {
			if r.cfg.Stages && s.tier == accounts.Strategic {
				r.traced[cause] = &traced{phase: s.phase, sent: s.at, seen: now}
			}
			st.accepted++
			st.latencies = append(st.latencies, now.Sub(s.at))
		} else {
			st.rejected++
		}
		r.last = now
	}
	r.mu.Unlock()
	if ok {
		<-s.window
	}
}

// accountsOf lists the bench accounts of the given tiers.
func (r *runner) accountsOf(tiers ...accounts.Tier) []*account {
	var out []*account
	for _, a := range r.fleet {
		for _, t := range tiers {
			if a.tier == t {
				out = append(out, a)
			}
		}
	}
	return out
}

// drive sends orders round-robin over accts at rate per second (0: as fast
// as the window lets), for d or until count orders are sent, whichever is
// first (count 0: no count).
func (r *runner) drive(ctx context.Context, accts []*account, rate int, d time.Duration, count int) {
	// An order sent before the end is sent in full: its request is not
	// cancelled when the duration ends (that made the hub answer 503 for
	// orders the report then counted as lost).
	sendCtx := ctx
	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var progress *time.Ticker
	if r.cfg.Progress != nil {
		progress = time.NewTicker(time.Second)
		defer progress.Stop()
		go r.report(ctx, progress.C)
	}
	senders := 1
	if r.cfg.Transport == "http" {
		senders = 32
	}
	// Each drive has its own window, so that a flood never takes the
	// window slots of the tier it floods beside.
	window := make(chan struct{}, r.cfg.Window)
	var next atomic.Int64
	var wg sync.WaitGroup
	pace := newPacer(rate, start, end)
	for range senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := next.Add(1)
				if count > 0 && n > int64(count) {
					return
				}
				if !pace.wait(ctx) {
					return
				}
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				r.send(sendCtx, accts[int(n-1)%len(accts)], window)
			}
		})
	}
	wg.Wait()
}

// pacer spaces sends rate per second apart, in small bursts so that a high
// rate does not depend on the timer's resolution. It lets none through that
// is due at or after end, so a drive of d at rate r sends at most r×d orders
// however late its goroutines run: when the drive's end was only its
// context's deadline, a process starved of CPU woke its senders for sends
// due after the end before the deadline was seen, and a one-second flood at
// 20/s sent up to 24.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
	end      time.Time
}

// newPacer paces rate sends a second from start until end; rate 0 does not
// pace at all.
func newPacer(rate int, start, end time.Time) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{interval: time.Second / time.Duration(rate), next: start, end: end}
}

// wait waits until the next send is due and reports whether to make it:
// false once the sends due before end are taken, or when ctx ends first.
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval == 0 {
		return true
	}
	p.mu.Lock()
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	if !at.Before(p.end) {
		return false
	}
	if d := time.Until(at); d > time.Millisecond {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// send places one order for a, recording when it left.
func (r *runner) send(ctx context.Context, a *account, window chan struct{}) {
	id := "b" + strconv.FormatInt(r.seq.Add(1), 36)
	body := orderData(id, a.gln)
	r.mu.Lock()
	r.pending[id] = sent{tier: a.tier, phase: r.phase, at: time.Now(), window: window}
	r.stats[a.tier].sent++
	r.mu.Unlock()
	var err error
	if r.cfg.Transport == "nats" {
		_, err = a.js.PublishMsgAsync(orderMsg(a.id, id, body))
	} else {
		err = r.post(ctx, a, id, body)
	}
	if err != nil {
		// Not stored: it will never be answered; free its window slot. It
		// still counts as sent, and so as lost; the first error is kept
		// for the report.
		r.mu.Lock()
		delete(r.pending, id)
		r.sendErrors++
		if r.firstError == "" {
			r.firstError = err.Error()
		}
		r.mu.Unlock()
		<-window
	}
}

// orderMsg is an order.placed as an account's ERP publishes it over NATS
// (binary mode); the hub's intake relay keys it by account and id.
func orderMsg(account, id string, body []byte) *nats.Msg {
	return &nats.Msg{Subject: bus.InSubject(bus.Sender{Account: account}, "order.placed"), Header: nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {id}, "ce-source": {"/accounts/" + account},
		"ce-type": {"crossdock.order.placed.v1"}, "content-type": {"application/json"},
	}, Data: body}
}

func (r *runner) post(ctx context.Context, a *account, id string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.httpBase+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("ce-specversion", "1.0")
	req.Header.Set("ce-id", id)
	req.Header.Set("ce-source", "/accounts/"+a.id)
	req.Header.Set("ce-type", "crossdock.order.placed.v1")
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	// Read to the end, or the client closes the connection rather than
	// reuse it: every POST dialled a new one, a tenth of the CPU of an HTTP
	// run (found in its profile).
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/events: %s", resp.Status)
	}
	return nil
}

// requested is the requested date of every bench order: a month ahead, so
// that stable orders of 100 units meet the minimum.
var requested = time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)

// orderData is an order.placed body of 100 units to the account's DC, in
// the size of a small real order (three lines).
func orderData(po, gln string) []byte {
	return []byte(`{"po_number":"` + po + `","ship_to":"` + gln + `","requested_date":"` + requested +
		`","lines":[{"line":1,"gtin":"00614141123452","quantity":40,"unit":"EA"},` +
		`{"line":2,"gtin":"00614141123452","quantity":30,"unit":"EA"},` +
		`{"line":3,"gtin":"00614141123452","quantity":30,"unit":"EA"}]}`)
}

// drain waits until every order sent is answered, or for timeout.
func (r *runner) drain(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r.mu.Lock()
		n := len(r.pending)
		r.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *runner) lastAnswer() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// report prints a progress line on every tick.
func (r *runner) report(ctx context.Context, tick <-chan time.Time) {
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		r.mu.Lock()
		var s, a, j int64
		for _, st := range r.stats {
			s, a, j = s+st.sent, a+st.accepted, j+st.rejected
		}
		inflight := len(r.pending)
		r.mu.Unlock()
		fmt.Fprintf(r.cfg.Progress, "%5.1fs  sent %d  accepted %d  rejected %d  in flight %d  (%.0f accepted/s)\n",
			time.Since(start).Seconds(), s, a, j, inflight, float64(a)/time.Since(start).Seconds())
	}
}

func (r *runner) tierReport(tier string, seconds float64) TierReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats[accounts.Tier(tier)]
	return makeReport(tier, st.sent, st.accepted, st.rejected, append([]time.Duration(nil), st.latencies...), seconds)
}

func (r *runner) totalReport(seconds float64) TierReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s, a, j int64
	var all []time.Duration
	for _, st := range r.stats {
		s, a, j = s+st.sent, a+st.accepted, j+st.rejected
		all = append(all, st.latencies...)
	}
	return makeReport("total", s, a, j, all, seconds)
}

func makeReport(tier string, sent, accepted, rejected int64, lat []time.Duration, seconds float64) TierReport {
	rep := TierReport{Tier: tier, Sent: sent, Accepted: accepted, Rejected: rejected, Lost: sent - accepted - rejected, Latency: summarise(lat)}
	if seconds > 0 {
		rep.OrdersPerSec = float64(accepted) / seconds
	}
	return rep
}
