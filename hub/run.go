package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/gateway"
)

// routes is the HTTP API: the hub's own paths, then each service built here
// mounts its own (services.go).
func (h *Hub) routes(metrics *prometheus.Registry) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if err := h.bus.Ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.Handle("/v1/admin/", accounts.AdminHandler(h.registry, h.cfg.AdminToken, h.log.Named("admin")))
	opsAPI := h.opsHandler()
	for _, p := range []string{"/v1/admin/dlq", "/v1/admin/dlq/", "/v1/admin/replay", "/v1/admin/delivery/"} {
		mux.Handle(p, opsAPI)
	}
	if err := h.mountServices(mux); err != nil {
		return nil, err
	}
	h.consoleRoutes(mux)
	return instrument(mux, metrics), nil
}

// opsHandler serves the operators' DLQ, replay and flush endpoints.
func (h *Hub) opsHandler() http.Handler {
	var flush ops.Flusher
	if h.delivery != nil {
		flush = h.delivery
	}
	return ops.Handler(ops.New(h.bus.JetStream(), nil), flush, h.cfg.AdminToken, h.log.Named("ops"))
}

// Limits of the HTTP server (docs/security.md). Every route answers within
// seconds, so WriteTimeout is safe for all of them, except the portal's
// server-sent events (/portal/events), which lift the read and write
// deadlines of their own connection with http.ResponseController.
const (
	// httpReadHeaderTimeout bounds the request line and headers.
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout bounds a whole request; the gateway reads bodies
	// under its own, shorter deadline (gateway.BodyTimeout) before taking
	// a lane slot. Four times that for files of up to 8 MiB.
	httpReadTimeout = 4*gateway.BodyTimeout + httpReadHeaderTimeout
	// httpWriteTimeout bounds the time from the end of the headers to the
	// end of the answer.
	httpWriteTimeout = 2 * time.Minute
	// httpIdleTimeout closes a keep-alive connection idle that long.
	httpIdleTimeout = 60 * time.Second
	// httpMaxHeaderBytes bounds the request headers: room for every
	// CloudEvents attribute at its limit (intake.MaxAttributesBytes) many
	// times over, so that an oversized attribute is answered 400 naming it;
	// beyond it the server answers 431.
	httpMaxHeaderBytes = 128 << 10
)

// newServer is the HTTP server of the API, with the limits above.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
	}
}

// listen opens the HTTP listener (so that Start fails on a taken port).
func (h *Hub) listen(handler http.Handler) error {
	if h.cfg.HTTP == "" || h.cfg.HTTP == "none" {
		return nil
	}
	ln, err := net.Listen("tcp", h.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("--http %s: %w", h.cfg.HTTP, err)
	}
	h.httpAddr = ln.Addr().String()
	h.http = newServer(handler)
	serve := h.http.Serve
	if h.cert != nil {
		h.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*h.cert}, MinVersion: tls.VersionTLS12}
		serve = func(ln net.Listener) error { return h.http.ServeTLS(ln, "", "") }
	}
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Error("http server", zap.Error(err))
		}
	}()
	return nil
}

// run runs the services until ctx ends, then shuts down in order: the HTTP
// API stops taking requests, the consumers finish what they hold, and last
// the NATS connection drains and the embedded server stops. A service that
// fails stops the whole process at once (the others are cancelled, Wait
// returns its error): a hub with one consumer dead must not look healthy.
func (h *Hub) run(ctx context.Context, runs []func(context.Context) error) {
	defer close(h.done)
	g, svcCtx := errgroup.WithContext(ctx)
	for _, r := range runs {
		g.Go(func() error { return r(svcCtx) })
	}
	<-svcCtx.Done()
	if ctx.Err() == nil {
		h.log.Error("a service failed; crossdock is stopping")
	}
	if h.http != nil {
		shutCtx, cancelShut := context.WithTimeout(context.Background(), 10*time.Second)
		_ = h.http.Shutdown(shutCtx)
		cancelShut()
	}
	h.err = g.Wait()
	h.cancel() // the process stops: background replays too
	h.replays.Wait()
	h.closeNATS()
	h.log.Info("crossdock stopped")
}

func (h *Hub) closeNATS() {
	if h.relayNC != nil {
		h.relayNC.Close() // its subscriptions drained when the relay stopped
	}
	if h.bulkNC != nil {
		_ = h.bulkNC.Drain()
		for h.bulkNC.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if h.nc != nil {
		_ = h.nc.Drain()
		for h.nc.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if h.server != nil {
		h.server.Shutdown()
		h.server.WaitForShutdown()
	}
	if h.unlock != nil {
		h.unlock() // only once the server has stopped writing
		h.unlock = nil
	}
}

// Stop ends the hub; Wait returns when it has stopped.
func (h *Hub) Stop() { h.cancel() }

// Wait blocks until the hub has stopped and returns why, nil for a clean stop.
func (h *Hub) Wait() error {
	<-h.done
	return h.err
}

// Done is closed once the hub has stopped, by Stop or on its own (a service
// failed); Wait then returns why without blocking. It lets a caller notice a
// stop while it does other work.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Bus is the hub's own connection to JetStream, for tools and tests that
// read the streams as the hub sees them.
func (h *Hub) Bus() *bus.Bus { return h.bus }

// Sever simulates a crash of the process's NATS side: it closes every NATS
// connection of the hub at once, without draining, finishing or acking what
// its consumers hold, so that JetStream redelivers that work elsewhere after
// its ack wait. The services then fail and the hub stops with an error, as
// a process cut off from NATS does. It is for chaos drills and system tests
// of what the rest of a cluster does when one hub vanishes; Stop is the
// clean way down.
func (h *Hub) Sever() {
	for _, nc := range []*nats.Conn{h.nc, h.relayNC, h.bulkNC} {
		if nc != nil {
			nc.Close()
		}
	}
}

// Reload re-reads the accounts file; a broken file changes nothing.
func (h *Hub) Reload(ctx context.Context) error {
	return h.registry.Reload(ctx, h.cfg.Accounts)
}

// HTTPAddr is the address the HTTP API listens on ("" when disabled).
func (h *Hub) HTTPAddr() string { return h.httpAddr }

// NATSURL is the URL clients use to reach the hub's NATS: the embedded
// server's client URL, or --nats-url without its user information.
func (h *Hub) NATSURL() string {
	if h.server == nil {
		return bus.RedactURL(h.cfg.NATSURL)
	}
	if h.cfg.NATSListen == "none" {
		return "in-process"
	}
	return h.server.ClientURL()
}
