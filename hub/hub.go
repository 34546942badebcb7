package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/flow"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/schemas/catalog"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/delivery"
	"github.com/crossdock/crossdock/services/gateway"
	"github.com/crossdock/crossdock/services/intake"
	"github.com/crossdock/crossdock/services/lanes"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/services/planning"
	"github.com/crossdock/crossdock/services/rfid"
	"github.com/crossdock/crossdock/services/scorecard"
	"github.com/crossdock/crossdock/services/vmi"
)

// Hub is a running crossdock process.
type Hub struct {
	cfg      Config
	log      *zap.Logger
	server   *server.Server          // nil when connected to --nats-url
	unlock   func()                  // releases --data (lockData); nil without an embedded server
	auth     *accounts.Authenticator // the embedded server's authenticator
	nc       *nats.Conn
	relayNC  *nats.Conn // the intake relay's own connection
	bulkNC   *nats.Conn // the bulk lane's own connection, when it has one
	bus      *bus.Bus
	registry *accounts.Registry
	orders   *orders.Service
	// scorecard serves GET /v1/scorecard wherever the orders API is served;
	// other services add their sections to it (scorecard.Config.Sections).
	scorecard *scorecard.Scorecard
	rfid      *rfid.Service
	gateway   *gateway.Gateway // events over HTTP, when the gateway runs here
	ingest    *gateway.Ingest  // partners' files, with the gateway
	vmi       *vmi.Service
	planning  *planning.Service // shared planning: also serves accuracy where the gateway runs
	delivery  *delivery.Service
	http      *http.Server
	httpAddr  string
	cert      *tls.Certificate // --tls-cert, --tls-key; nil without TLS
	cred      bus.Credentials  // how the hub's connections authenticate
	catalog   *catalog.Catalog
	flow      *flow.Flow
	replays   *ops.Replays

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// setupTimeout bounds the start-up's requests to JetStream (streams,
// buckets, the accounts file): each is retried on its own short deadline
// (bus.Retry), and several processes started together on a fresh cluster
// queue behind one another's stream creations.
const setupTimeout = 90 * time.Second

// Start brings the hub up and returns once it takes events: the streams
// exist, the accounts file is applied and the HTTP listener is open. The
// services' consumers start in the background; whatever arrives before they
// are attached waits in its stream. The hub stops when ctx ends or Stop is
// called; Wait returns then.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (_ *Hub, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tiers, file, err := loadAccounts(cfg)
	if err != nil {
		return nil, err
	}
	validator, err := schemas.New()
	if err != nil {
		return nil, fmt.Errorf("schemas: %w", err)
	}

	h := &Hub{cfg: cfg, log: log, done: make(chan struct{})}
	runCtx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	defer func() {
		if err != nil {
			cancel()
			h.closeNATS()
		}
	}()
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		h.cert = &cert
	}
	if err := h.connect(); err != nil {
		return nil, err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	setupCtx, cancelSetup := context.WithTimeout(ctx, setupTimeout)
	defer cancelSetup()
	if err := h.setup(setupCtx, metrics, tiers, file); err != nil {
		return nil, err
	}

	gov, err := h.governor(metrics)
	if err != nil {
		return nil, err
	}
	h.replays = ops.NewReplays(runCtx, ops.New(h.bus.JetStream(), nil))
	runs := []func(context.Context) error{h.registry.Run, gov.Run, h.newFlow(metrics).Run}
	if cfg.NATSCalloutIssuer != "" {
		callout, err := h.callout()
		if err != nil {
			return nil, err
		}
		runs = append(runs, func(ctx context.Context) error { return callout.Run(ctx, h.nc) })
	}
	built, err := h.buildServices(parts{
		ctx:       setupCtx,
		validator: validator,
		check:     intake.NewChecker(h.registry, validator, 0),
		door:      gateway.NewDoor(h.registry, gateway.DoorConfig{Requests: cfg.AccountRequests}),
		governor:  gov,
		metrics:   metrics,
		local:     map[string]bus.Handler{},
	})
	if err != nil {
		return nil, err
	}
	runs = append(runs, built...)
	h.scorecard = h.newScorecard()

	if err := h.newCatalog(validator); err != nil {
		return nil, err
	}
	mux, err := h.routes(metrics)
	if err != nil {
		return nil, err
	}
	if err := h.listen(mux); err != nil {
		return nil, err
	}
	go h.run(runCtx, runs)
	log.Info("crossdock started", zap.String("http", h.httpAddr), zap.String("nats", bus.RedactURL(h.NATSURL())),
		zap.Strings("services", cfg.Services), zap.Int("accounts", len(file.Accounts)))
	return h, nil
}

// loadAccounts reads the tier policy (--tiers, or the built-in one) and the
// accounts file, before anything starts.
func loadAccounts(cfg Config) (accounts.TierSet, *accounts.File, error) {
	tiers := accounts.DefaultTiers()
	if cfg.Tiers != "" {
		var err error
		if tiers, err = accounts.LoadTiers(cfg.Tiers); err != nil {
			return nil, nil, err
		}
	}
	file, err := accounts.LoadFile(cfg.Accounts, tiers)
	if err != nil {
		return nil, nil, err
	}
	return tiers, file, nil
}

// setup makes the bus, its streams and buckets, and the account registry
// with the accounts file applied; the embedded server authenticates
// customers from then on.
func (h *Hub) setup(ctx context.Context, metrics *prometheus.Registry, tiers accounts.TierSet, file *accounts.File) (err error) {
	limits := h.cfg.StreamLimits
	if h.server != nil && limits.IsZero() {
		// The defaults reserve 8 GiB; on a small disk they are scaled
		// down to fit rather than keep the embedded hub from starting.
		var fitted bool
		if limits, fitted = bus.FitDefaults(h.server.JetStreamConfig().MaxStore); fitted {
			h.log.Warn("the embedded server's storage is small: stream limits scaled down to half of it; set --stream-max-bytes to choose them",
				zap.Int64("max_store_bytes", h.server.JetStreamConfig().MaxStore), zap.String("stream_max_bytes", limits.String()))
		}
	}
	if h.bus, err = bus.New(h.nc, h.log.Named("bus"), bus.Options{Replicas: h.cfg.Replicas, Metrics: metrics, DuplicateWindow: h.cfg.DedupeWindow, StreamLimits: limits, AckWait: h.cfg.AckWait, Backoff: h.cfg.Backoff}); err != nil {
		return err
	}
	if err := h.bus.Setup(ctx); err != nil {
		return err
	}
	if h.registry, err = accounts.NewRegistry(ctx, h.bus, tiers, h.log.Named("accounts")); err != nil {
		return err
	}
	if h.auth != nil {
		h.auth.Use(h.registry)
	}
	if _, err := h.registry.Apply(ctx, file); err != nil {
		return fmt.Errorf("apply accounts file %s: %w", h.cfg.Accounts, err)
	}
	return nil
}

// governor slows this process's bulk lane while its priority lane is slow
// (--bulk-yield, --bulk-share), with its limit in /metrics; it can also
// serve the lanes in strict priority (--bulk-slots) and give the bulk lane
// a connection of its own (--bulk-conn).
func (h *Hub) governor(metrics *prometheus.Registry) (*lanes.Governor, error) {
	yield := h.cfg.BulkYield
	if yield == 0 {
		yield = DefaultBulkYield
	}
	cfg := lanes.GovernorConfig{Factor: yield, Share: h.cfg.BulkShare, Slots: h.cfg.BulkSlots}
	if h.cfg.BulkConn {
		nc, err := h.dial("crossdock-bulk")
		if err != nil {
			return nil, fmt.Errorf("the bulk lane's connection: %w", err)
		}
		h.bulkNC = nc
		if cfg.Bulk, err = h.bus.Using(nc); err != nil {
			return nil, err
		}
	}
	gov := lanes.NewGovernor(cfg)
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "crossdock_bulk_lane_limit",
		Help: "Events per second this process admits into its bulk lane while the priority lane is slowed (+Inf: not limited; --bulk-yield).",
	}, gov.BulkLimit))
	return gov, nil
}

// dial opens another connection of the hub's, as connect did the first.
func (h *Hub) dial(name string) (*nats.Conn, error) {
	return bus.Dial(h.cfg.NATSURL, h.server, name, h.cred)
}

// callout builds the cluster's auth callout service from the seed files.
func (h *Hub) callout() (*accounts.Callout, error) {
	issuer, err := readSeed(h.cfg.NATSCalloutIssuer)
	if err != nil {
		return nil, fmt.Errorf("--nats-callout-issuer: %w", err)
	}
	var xkey nkeys.KeyPair
	if h.cfg.NATSCalloutXKey != "" {
		if xkey, err = readSeed(h.cfg.NATSCalloutXKey); err != nil {
			return nil, fmt.Errorf("--nats-callout-xkey: %w", err)
		}
	}
	account := h.cfg.NATSCalloutAccount
	if account == "" {
		account = DefaultCalloutAccount
	}
	return h.registry.Callout(accounts.CalloutConfig{
		Issuer: issuer, XKey: xkey, Account: account, AdminToken: h.cfg.AdminToken, TTL: h.cfg.NATSCalloutTTL,
	}, h.log.Named("callout"))
}

// DefaultCalloutAccount is the NATS account of deploy/nats/cluster.conf
// where the hub's streams live and the auth callout places clients.
const DefaultCalloutAccount = "CROSSDOCK"

// readSeed reads an nkey seed file (as nk -gen writes it); the error never
// holds the file's content.
func readSeed(path string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return nil, fmt.Errorf("%s does not hold an nkey seed", path)
	}
	return kp, nil
}

// connect starts the embedded server (or dials --nats-url) and opens the
// hub's connection.
func (h *Hub) connect() error {
	var err error
	if h.cfg.NATSURL != "" {
		h.cred = bus.Credentials{
			User: h.cfg.NATSUser, Password: h.cfg.NATSPassword,
			CredsFile: h.cfg.NATSCreds, NKeyFile: h.cfg.NATSNKey, CAFile: h.cfg.NATSCA,
		}
		h.nc, err = bus.Dial(h.cfg.NATSURL, nil, "crossdock", h.cred)
		return err
	}
	if h.unlock, err = lockData(h.cfg.Data); err != nil {
		return err
	}
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	hubToken := hex.EncodeToString(token)
	auth := accounts.NewAuthenticator(hubToken, h.cfg.AdminToken)
	scfg := bus.ServerConfig{
		Listen:     h.cfg.NATSListen,
		StoreDir:   h.cfg.Data,
		SyncAlways: h.cfg.Fsync == "always",
		Auth:       auth,
		MaxStore:   h.cfg.NATSMaxStore,
	}
	cred := bus.Credentials{Token: hubToken}
	if h.cert != nil {
		scfg.TLS = &tls.Config{Certificates: []tls.Certificate{*h.cert}, MinVersion: tls.VersionTLS12}
		cred.ServerCert = h.cert.Leaf
	}
	if h.server, err = bus.RunServer(scfg); err != nil {
		return err
	}
	h.auth, h.cred = auth, cred
	h.nc, err = bus.Dial("", h.server, "crossdock", cred)
	return err
}

// newScorecard is the scorecard over the orders served here, with the
// forecast accuracy section when planning is served here too; nil without
// orders.
func (h *Hub) newScorecard() *scorecard.Scorecard {
	if h.orders == nil {
		return nil
	}
	var sections []scorecard.Section
	if h.planning != nil {
		sections = append(sections, forecastAccuracy(h.planning, h.registry))
	}
	return scorecard.New(scorecard.Config{Now: h.cfg.Now, Sections: sections}, h.orders, h.bus, h.registry, h.log.Named("scorecard"))
}

// forecastAccuracy is the scorecard's section for shared planning: the
// account's forecast accuracy (weighted MAPE and bias over 4 and 13 weeks)
// as of the period's end, for accounts whose policy shares planning.
func forecastAccuracy(p *planning.Service, reg *accounts.Registry) scorecard.Section {
	return scorecard.Section{Name: "forecast_accuracy", Compute: func(ctx context.Context, account string, _, to time.Time) (any, error) {
		if e, ok := reg.Account(account); !ok || !e.Policy.SharesPlanning() {
			return nil, nil
		}
		a, err := p.Accuracy(ctx, account, to)
		if err != nil {
			return nil, err
		}
		return a, nil
	}}
}
