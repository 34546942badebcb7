package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/web"
)

// keepAlive is how often an idle stream gets a comment line, so that
// proxies keep it open and a dead client is noticed.
const keepAlive = 20 * time.Second

// liveSubject is what a principal's live pages follow: exactly what its own
// NATS user may subscribe to (CONTRACT.md section 3), never a wider subject.
func liveSubject(pr web.Principal) string {
	if pr.Warehouse != "" {
		return bus.WarehouseSubject(pr.Warehouse, ">")
	}
	return bus.OutSubject(pr.Account, ">")
}

// change is one server-sent event: what happened, for the page to decide
// whether to refresh. It carries no payload beyond the event's type, id and
// subject.
type change struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// events streams the session's own xd.out.<account>.> (or the warehouse's
// xd.wh.<warehouse>.>) as server-sent events, over a core NATS subscription
// that lives as long as the request. The server's write deadline, if any,
// is lifted for this response only (http.ResponseController), and the
// session is checked again at every keep-alive, so a signed-out or removed
// user's stream ends.
func (p *Portal) events(w http.ResponseWriter, r *http.Request) {
	if p.cfg.NATS == nil {
		http.Error(w, "live updates are not available in this process", http.StatusNotFound)
		return
	}
	pr := web.FromContext(r.Context()).Principal
	// The server's WriteTimeout would cut the stream, and its ReadTimeout,
	// hit by the background read that watches for the client going away,
	// would cancel the request: lift both for this connection only.
	rc := http.NewResponseController(w)
	for _, lift := range []func(time.Time) error{rc.SetWriteDeadline, rc.SetReadDeadline} {
		if err := lift(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			p.log.Warn("portal events: lift a deadline", zap.Error(err))
		}
	}
	msgs := make(chan *nats.Msg, 64)
	sub, err := p.cfg.NATS.ChanSubscribe(liveSubject(pr), msgs)
	if err != nil {
		p.log.Error("portal events: subscribe", zap.Error(err))
		http.Error(w, "live updates are not available right now", http.StatusServiceUnavailable)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server knows the subscription before the page is told it is
	// live (and reads the state again).
	if err := p.cfg.NATS.FlushTimeout(5 * time.Second); err != nil {
		p.log.Warn("portal events: flush subscription", zap.Error(err))
	}
	// A slow browser loses signals, never the process's memory: the page
	// re-reads the state anyway.
	_ = sub.SetPendingLimits(64, 1<<20)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, ok := p.sessions.Lookup(r); !ok {
				_, _ = fmt.Fprint(w, "event: signedout\ndata: {}\n\n")
				_ = rc.Flush()
				return
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case m := <-msgs:
			c := change{Type: m.Header.Get("ce-type"), ID: m.Header.Get("ce-id"), Subject: m.Subject}
			b, _ := json.Marshal(c)
			if _, err := fmt.Fprintf(w, "event: change\ndata: %s\n\n", b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
