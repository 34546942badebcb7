package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

// receiver is a customer's webhook endpoint: a real HTTP listener that
// verifies every signature and records what arrived, in order.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	ids      []string         // ce-id of each accepted single event, in arrival order
	batches  [][]*event.Event // accepted digests
	digests  []string         // their Crossdock-Digest-Id
	attempts int              // every request, accepted or not
	// answer decides the response to the n-th request (1-based); nil: 200.
	answer func(n int, w http.ResponseWriter, r *http.Request) bool
}

func newReceiver(t testing.TB, secret string) *receiver {
	rc := &receiver{t: t, secret: secret}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := Verify(r.Header.Get(HeaderSignature), rc.secret, body, time.Now(), 0); err != nil {
		rc.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc.mu.Lock()
	rc.attempts++
	n, answer := rc.attempts, rc.answer
	rc.mu.Unlock()
	if answer != nil && answer(n, w, r) {
		return // answered with a failure
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Header.Get("Content-Type") == ContentTypeBatch {
		var evs []*event.Event
		if err := json.Unmarshal(body, &evs); err != nil {
			rc.t.Errorf("receiver: digest body: %v", err)
		}
		rc.batches = append(rc.batches, evs)
		rc.digests = append(rc.digests, r.Header.Get(HeaderDigestID))
	} else {
		if r.Header.Get("ce-specversion") != "1.0" || r.Header.Get("ce-type") == "" {
			rc.t.Errorf("receiver: not a binary-mode CloudEvent: %v", r.Header)
		}
		rc.ids = append(rc.ids, r.Header.Get("ce-id"))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.ids...)
}

func (rc *receiver) tries() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts
}

// waitFor waits until the receiver holds n single events.
func (rc *receiver) waitFor(n int) []string {
	rc.t.Helper()
	bustest.CheckFor(rc.t, 15*time.Second, func() error {
		if got := len(rc.got()); got < n {
			return fmt.Errorf("receiver has %d events, want %d", got, n)
		}
		return nil
	})
	return rc.got()
}

// env is a real NATS server, a bus and an account registry.
type env struct {
	t   testing.TB
	srv *server.Server
	bus *bus.Bus
	reg *accounts.Registry
}

func newEnv(t testing.TB, accountsYAML string) *env {
	t.Helper()
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	return &env{t: t, srv: s, bus: b, reg: accountstest.Registry(t, b, accountsYAML)}
}

// apply makes the registry hold this accounts file, as a reload does.
func (e *env) apply(accountsYAML string) {
	e.t.Helper()
	accountstest.Apply(e.t, e.reg, accountsYAML)
}

// fastRetry retries within milliseconds.
var fastRetry = Retry{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond, Timeout: 5 * time.Second}

// start runs a delivery service (a "process") until the returned stop.
func (e *env) start(cfg Config) (*Service, func()) {
	e.t.Helper()
	svc, cancel, wait := e.startSplit(cfg)
	return svc, func() { cancel(); wait() }
}

// startSplit runs a delivery service; cancel begins its shutdown (as
// SIGTERM does) and wait returns once it has stopped.
func (e *env) startSplit(cfg Config) (*Service, context.CancelFunc, func()) {
	e.t.Helper()
	if cfg.Retry == (Retry{}) {
		cfg.Retry = fastRetry
	}
	if cfg.Reconcile == 0 {
		cfg.Reconcile = 20 * time.Millisecond
	}
	svc, err := New(context.Background(), cfg, e.bus, e.reg, bustest.Logger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	wait := func() {
		once.Do(func() {
			if err := <-done; err != nil {
				e.t.Errorf("delivery stopped with: %v", err)
			}
		})
	}
	e.t.Cleanup(func() { cancel(); wait() })
	return svc, cancel, wait
}

// publish stores an outbound event for account, as a service would.
func (e *env) publish(account, name, id string) {
	e.t.Helper()
	ev, err := bus.NewRootEvent(id, bus.Type(name), "/crossdock/test", account, map[string]any{"n": id})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.bus.Publish(context.Background(), bus.Outgoing{Subject: bus.OutSubject(account, name), Event: ev}); err != nil {
		e.t.Fatal(err)
	}
}

// dlq returns the dead letters stored on subject.
func (e *env) dlq(subject string) []*jetstream.RawStreamMsg {
	e.t.Helper()
	ctx := context.Background()
	var out []*jetstream.RawStreamMsg
	err := bus.Scan(ctx, e.bus.JetStream(), bus.StreamDLQ, []string{subject}, bus.From{}, func(m jetstream.Msg, seq uint64) bool {
		out = append(out, &jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: seq, Header: m.Headers(), Data: m.Data()})
		return true
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// accountsFile is an accounts file with the given accounts' YAML entries.
func accountsFile(entries ...string) string {
	return "warehouses:\n  - {id: dc-east, api_keys: []}\naccounts:\n" + strings.Join(entries, "")
}

// account is one accounts-file entry; hook may be nil.
func account(id, tier string, hook *receiver, extra string) string {
	s := fmt.Sprintf("  - id: %s\n    name: %s\n    tier: %s\n    api_keys: []\n    locations: []\n", id, id, tier)
	if hook != nil {
		s += fmt.Sprintf("    webhook: {url: %q, secret: %q}\n", hook.srv.URL+"/hooks/"+id, hook.secret)
	}
	return s + extra
}

func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}
