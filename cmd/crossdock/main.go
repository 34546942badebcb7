// Command crossdock runs the crossdock integration hub: an embedded NATS
// JetStream server (or a connection to a cluster), the services and the HTTP
// API, in one process. Every flag is also an environment variable
// CROSSDOCK_<NAME> (upper case, - as _); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	_ "github.com/crossdock/crossdock/adapters/all" // every file format of this tree
	"github.com/crossdock/crossdock/hub"
)

// subcommands are the tools beside the hub itself; `crossdock` with flags
// and no subcommand runs the hub.
var subcommands = map[string]func(args []string) error{
	"bench":  runBench,
	"send":   func(args []string) error { return send(args, os.Stdout, os.Stderr) },
	"dlq":    dlqCommand,
	"replay": replayCommand,
	"user":   userCommand,
}

func main() {
	args := os.Args[1:]
	cmd := run
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			cmd, args = sub, args[1:]
		}
	}
	if err := cmd(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage, already printed, is the answer
		}
		fmt.Fprintln(os.Stderr, "crossdock:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, logFormat, logLevel, err := parseFlags(args)
	if err != nil {
		return err
	}
	log, err := newLogger(logFormat, logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := hub.Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := h.Reload(ctx); err != nil {
				log.Error("accounts file not reloaded; keeping the current accounts", zap.String("file", cfg.Accounts), zap.Error(err))
				continue
			}
			log.Info("accounts file reloaded", zap.String("file", cfg.Accounts))
		}
	}()
	return h.Wait()
}

// parseFlags reads the command line over the environment over the defaults.
func parseFlags(args []string) (cfg hub.Config, logFormat, logLevel string, err error) {
	fs := flag.NewFlagSet("crossdock", flag.ContinueOnError)
	var services string
	fs.StringVar(&cfg.HTTP, "http", "127.0.0.1:8080", "HTTP API listen address (none: no HTTP API)")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (none: in-process only)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "connect to this NATS server or cluster instead of embedding one")
	fs.StringVar(&cfg.Data, "data", "./data", "JetStream storage directory of the embedded server")
	fs.StringVar(&cfg.Accounts, "accounts", "deploy/accounts.example.yaml", "accounts file; re-read on SIGHUP")
	fs.StringVar(&cfg.Tiers, "tiers", "", "tier policy file (default: built in, the same as deploy/tiers.yaml)")
	fs.StringVar(&services, "services", "all", "comma list of gateway,router,orders,vmi,rfid,delivery,planning to run here")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "bearer token for /v1/admin/* (empty: admin endpoints off)")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "JetStream stream replicas (3 on a cluster)")
	fs.StringVar(&cfg.Fsync, "fsync", "interval", "embedded JetStream disk sync: interval (NATS default) or always")
	fs.DurationVar(&cfg.DedupeWindow, "dedupe-window", 10*time.Minute, "how long JetStream recognises a repeated event id (3m-24h); the server holds every id of the window in memory, ~130 B each, four per order")
	fs.Float64Var(&cfg.BulkYield, "bulk-yield", hub.DefaultBulkYield, "slow the bulk lane while the priority lane's p95 is more than this many times its usual median; negative: never")
	fs.Float64Var(&cfg.BulkShare, "bulk-share", hub.DefaultBulkShare, "the bulk lane keeps at least this many times the priority lane's rate, however slowed")
	fs.IntVar(&cfg.WebhookAttempts, "webhook-attempts", 10, "POSTs per event before a webhook delivery is dead-lettered")
	fs.DurationVar(&cfg.WebhookMaxAge, "webhook-max-age", 24*time.Hour, "how long after its first attempt a webhook delivery is retried")
	fs.StringVar(&logFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := envDefaults(fs); err != nil {
		return cfg, "", "", err
	}
	if err := fs.Parse(args); err != nil {
		return cfg, "", "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Services = hub.ParseServices(services)
	return cfg, logFormat, logLevel, nil
}

// envDefaults sets each flag from CROSSDOCK_<NAME> when that is set, so that
// the command line, parsed after, still wins.
func envDefaults(fs *flag.FlagSet) error {
	var first error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CROSSDOCK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && first == nil {
			if err := f.Value.Set(v); err != nil {
				first = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	return first
}

func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	default:
		return nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}
