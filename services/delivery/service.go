package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Bucket is the KV bucket of digest cursors (digest.<account>): how far each
// batched account's digests have gone, and when the last was sent.
const Bucket = "XD_DELIVERY"

// Source is the CloudEvents source of events the delivery service makes.
const Source = "/crossdock/delivery"

// Config configures the delivery service. The zero value is ready for use.
type Config struct {
	// Retry is how hard each webhook POST is tried (see Retry's zero values).
	Retry Retry
	// AckWait is how long JetStream waits for an endpoint's outcome before it
	// redelivers; the service reports progress every second while it retries,
	// so this only matters when a process dies. Zero means 1m.
	AckWait time.Duration
	// Reconcile is how often the registry is compared with the running
	// endpoints, so that a reloaded accounts file adds, changes or stops
	// deliveries without a restart. Zero means 1s.
	Reconcile time.Duration
	// MaxDigest is the most events in one digest POST; a longer backlog is
	// sent as several. Zero means 1000.
	MaxDigest int
	// Now is the digest clock; nil means time.Now.
	Now func() time.Time
	// Metrics, when set, receives the service's Prometheus collectors.
	Metrics prometheus.Registerer
	// Experiments, when false, does not run the experiment mirror in this
	// process (tests of webhooks alone); New sets it true unless
	// NoExperiments is set.
	NoExperiments bool
}

// Service is the delivery service: one worker per webhook (realtime or
// digest) and the experiment mirror.
type Service struct {
	cfg    Config
	bus    *bus.Bus
	js     jetstream.JetStream
	reg    *accounts.Registry
	kv     jetstream.KeyValue
	sender *Sender
	log    *zap.Logger
	m      *metrics
	id     string // this process, as the owner of digest claims

	mu      sync.Mutex
	running map[string]*worker            // by durable name
	locks   map[string]*sync.Mutex        // per account: one digest at a time
	flush   map[string]chan *flushRequest // per batched account: on-demand digest
	// settled is, by durable, the last XD_OUT sequence this process
	// delivered or dead-lettered: a consumer deleted under a running worker
	// is recreated after it, not from the start of the stream.
	settled map[string]uint64
}

// worker is one running endpoint.
type worker struct {
	spec   spec
	cancel context.CancelFunc
	done   chan struct{}
}

func (w *worker) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// spec is what an endpoint's worker is started with; a change of any field
// restarts it.
type spec struct {
	Endpoint
	Batched     bool
	DigestEvery time.Duration
}

// New opens the digest bucket and returns the service.
func New(ctx context.Context, cfg Config, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) (*Service, error) {
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = time.Second
	}
	if cfg.MaxDigest <= 0 {
		cfg.MaxDigest = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	kv, err := b.Bucket(ctx, Bucket, "delivery: digest cursors of batched accounts", 5)
	if err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Metrics)
	sender := NewSender(cfg.Retry)
	sender.observe = func(r Response) { m.attempts.WithLabelValues(r.class()).Inc() }
	return &Service{
		cfg: cfg, bus: b, js: b.JetStream(), reg: reg, kv: kv, sender: sender, log: log, m: m, id: uuid.NewString(),
		running: map[string]*worker{}, locks: map[string]*sync.Mutex{}, flush: map[string]chan *flushRequest{}, settled: map[string]uint64{},
	}, nil
}

// Run delivers until ctx ends. It follows the registry: an endpoint added,
// changed (URL, secret, realtime or batched) or removed by a reload or a tier
// change is started, restarted or stopped within Config.Reconcile. If the
// experiments' mirror fails, Run stops its webhooks and returns the error.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if !s.cfg.NoExperiments {
		g.Go(func() error { return s.mirror(ctx) })
	}
	s.reconcile(ctx)
	t := time.NewTicker(s.cfg.Reconcile)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			s.reconcile(ctx)
		}
	}
	s.mu.Lock()
	ws := make([]*worker, 0, len(s.running))
	for _, w := range s.running {
		w.cancel()
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
	return g.Wait()
}

// specs are the endpoints the registry asks for now.
func (s *Service) specs() map[string]spec {
	out := map[string]spec{}
	for _, e := range s.reg.Accounts() {
		if sp, ok := accountSpec(e); ok {
			out[sp.Durable()] = sp
		}
	}
	for _, w := range s.reg.Warehouses() {
		if sp, ok := warehouseSpec(w); ok {
			out[sp.Durable()] = sp
		}
	}
	return out
}

func accountSpec(e *accounts.Entry) (spec, bool) {
	if e == nil || e.Account.Webhook == nil {
		return spec{}, false
	}
	sp := spec{Endpoint: Endpoint{Account: e.Account.ID, URL: e.Account.Webhook.URL, Secret: e.Account.Webhook.Secret}}
	if e.Policy.Delivery == "batched" {
		sp.Batched, sp.DigestEvery = true, time.Duration(e.Policy.DigestEvery)
	}
	return sp, true
}

func warehouseSpec(w *accounts.Warehouse) (spec, bool) {
	if w == nil || w.Webhook == nil {
		return spec{}, false
	}
	return spec{Endpoint: Endpoint{Warehouse: w.ID, URL: w.Webhook.URL, Secret: w.Webhook.Secret}}, true
}

// current reports whether sp is still what the registry asks for: a worker
// checks before each delivery, so that an event stored after a reload or a
// tier change goes to the new URL, with the new secret, or into a digest.
func (s *Service) current(sp spec) bool {
	var now spec
	var ok bool
	if sp.Warehouse != "" {
		w, _ := s.reg.Warehouse(sp.Warehouse)
		now, ok = warehouseSpec(w)
	} else {
		e, _ := s.reg.Account(sp.Account)
		now, ok = accountSpec(e)
	}
	return ok && now == sp
}

// reconcile starts, restarts and stops workers to match the registry. A
// worker being replaced is waited for (its POST in flight finishes) before
// its successor starts, outside the lock, so that Flush is never held up by
// another endpoint.
func (s *Service) reconcile(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	want := s.specs()
	var stopping []*worker
	s.mu.Lock()
	for name, w := range s.running {
		if sp, ok := want[name]; ok && sp == w.spec && !w.finished() {
			continue
		}
		w.cancel()
		stopping = append(stopping, w)
		delete(s.running, name)
		delete(s.flush, w.spec.Account)
	}
	s.mu.Unlock()
	for _, w := range stopping {
		<-w.done
		if _, ok := want[w.spec.Durable()]; !ok {
			s.log.Info("delivery stopped", zap.String("endpoint", w.spec.Name()))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, sp := range want {
		if _, ok := s.running[name]; ok {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &worker{spec: sp, cancel: cancel, done: make(chan struct{})}
		s.running[name] = w
		var flush chan *flushRequest
		if sp.Batched {
			flush = make(chan *flushRequest)
			s.flush[sp.Account] = flush
		}
		go func() {
			defer close(w.done)
			var err error
			if sp.Batched {
				err = s.digests(wctx, sp, flush)
			} else {
				err = s.stream(wctx, sp)
			}
			switch {
			case errors.Is(err, errRestart):
				s.log.Info("delivery repositioned after digests; restarting it", zap.String("endpoint", sp.Name()))
			case errors.Is(err, errChanged):
			case err != nil && wctx.Err() == nil:
				// reconcile sees the worker finished and starts it again.
				s.log.Error("delivery worker stopped; restarting it", zap.String("endpoint", sp.Name()), zap.Error(err))
			}
		}()
		s.log.Info("delivery started", zap.String("endpoint", sp.Name()), zap.Bool("batched", sp.Batched))
	}
}

// position is how far an endpoint's events have been delivered, whichever
// way: the realtime consumer's ack floor or the digest cursor, the later of
// the two, so that a switch between realtime and batched (a tier change)
// sends nothing twice.
func (s *Service) position(ctx context.Context, ep Endpoint) (uint64, error) {
	var seq uint64
	if c, err := s.js.Consumer(ctx, bus.StreamOut, ep.Durable()); err == nil {
		info, err := c.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("consumer %s: %w", ep.Durable(), err)
		}
		seq = info.AckFloor.Stream
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("consumer %s: %w", ep.Durable(), err)
	}
	s.mu.Lock()
	seq = max(seq, s.settled[ep.Durable()])
	s.mu.Unlock()
	if ep.Account != "" {
		cur, _, err := s.cursor(ctx, ep.Account)
		if err != nil {
			return 0, err
		}
		if cur != nil {
			seq = max(seq, cur.Seq)
		}
	}
	return seq, nil
}
