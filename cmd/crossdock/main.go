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
	"io"
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

// subcommand is a tool beside the hub itself.
type subcommand struct {
	name, summary string
	run           func(args []string) error
}

// subcommands are the tools beside the hub; `crossdock` with flags and no
// subcommand runs the hub. The usage is made from this list.
var subcommands = []subcommand{
	{"send", "send a partner's file or a CloudEvent to a running hub, as an account or a warehouse would",
		func(args []string) error { return send(args, os.Stdout, os.Stderr) }},
	{"dlq", "list, show and redrive dead letters (operator: the admin token)", dlqCommand},
	{"replay", "send an account's or a warehouse's stored events to its webhook again (operator)", replayCommand},
	{"user", "add a person who signs in to the portal to the accounts file", userCommand},
	{"bench", "measure a hub end to end: orders per second, latency per tier, lane isolation", runBench},
	{"probe", "GET a URL and succeed on 2xx: the health check of a container without a shell", probe},
}

// findSubcommand returns the subcommand called name, or nil.
func findSubcommand(name string) *subcommand {
	for i := range subcommands {
		if subcommands[i].name == name {
			return &subcommands[i]
		}
	}
	return nil
}

func main() {
	args := os.Args[1:]
	cmd := run
	if len(args) > 0 {
		if args[0] == "help" {
			cmd, args = help, args[1:]
		} else if sub := findSubcommand(args[0]); sub != nil {
			cmd, args = sub.run, args[1:]
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

// help is `crossdock help [command]`: the hub's usage on standard output, or
// the command's.
func help(args []string) error { return helpTo(os.Stdout, args) }

func helpTo(stdout io.Writer, args []string) error {
	if len(args) == 0 {
		defer func(w io.Writer) { usageOutput = w }(usageOutput)
		usageOutput = stdout
		_, _, _, err := parseFlags([]string{"--help"})
		return err
	}
	sub := findSubcommand(args[0])
	if sub == nil {
		return fmt.Errorf("help: no command %q (crossdock help lists them)", args[0])
	}
	return sub.run([]string{"--help"})
}

// usageOutput is where the hub's usage goes: standard error for --help and
// a bad flag, standard output for crossdock help.
var usageOutput io.Writer = os.Stderr

// usage writes the hub's usage: the commands, then the flags.
func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `usage: crossdock [flags]            run the hub (embedded NATS, every service, the HTTP API)
       crossdock <command> [flags]  a tool beside the hub
       crossdock help [command]     this text, or a command's

commands:
`)
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Every flag is also an environment variable CROSSDOCK_<NAME> (upper
case, - as _); the command line wins.

flags:
`)
	fs.PrintDefaults()
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
	if cfg.Accounts, err = accountsFile(cfg.Accounts, cfg.Data, log); err != nil {
		return err
	}

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
	fs.SetOutput(usageOutput)
	fs.Usage = func() { usage(fs) }
	var services string
	fs.StringVar(&cfg.HTTP, "http", "127.0.0.1:8080", "HTTP API listen address (none: no HTTP API)")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (none: in-process only)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "connect to this NATS server or cluster instead of embedding one")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", "", "with --nats-url: authenticate with this credentials file (user JWT and seed)")
	fs.StringVar(&cfg.NATSNKey, "nats-nkey", "", "with --nats-url: authenticate with the nkey seed in this file")
	fs.StringVar(&cfg.NATSUser, "nats-user", "", "with --nats-url: authenticate as this user (with --nats-password)")
	fs.StringVar(&cfg.NATSPassword, "nats-password", "", "the --nats-user's password; prefer CROSSDOCK_NATS_PASSWORD, which ps does not show")
	fs.StringVar(&cfg.NATSCA, "nats-ca", "", "with --nats-url: the CA file of the NATS servers' TLS certificates (requires TLS)")
	fs.StringVar(&cfg.NATSCalloutIssuer, "nats-callout-issuer", "", "with --nats-url: answer the cluster's auth callout from the accounts file, signing with the account seed in this file (its public key is the servers' auth_callout issuer)")
	fs.StringVar(&cfg.NATSCalloutXKey, "nats-callout-xkey", "", "the curve seed file whose public key is the servers' auth_callout xkey (encrypted requests)")
	fs.StringVar(&cfg.NATSCalloutAccount, "nats-callout-account", "", "the NATS account the auth callout places clients in, the hub's own (empty: "+hub.DefaultCalloutAccount+", as deploy/nats/cluster.conf)")
	fs.DurationVar(&cfg.NATSCalloutTTL, "nats-callout-ttl", 0, "how long a client's NATS authorization lasts before its connection is re-authorized, so a removed key stops working within it (0: 15m)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate (chain) of the HTTP API and the embedded NATS client port; with --tls-key, both serve TLS only")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.Data, "data", "./data", "JetStream storage directory of the embedded server")
	fs.StringVar(&cfg.Accounts, "accounts", "deploy/accounts.example.yaml", "accounts file; re-read on SIGHUP (when this default is absent: the built-in example, written to <data>/accounts.example.yaml)")
	fs.StringVar(&cfg.Tiers, "tiers", "", "tier policy file (default: built in, the same as deploy/tiers.yaml)")
	fs.StringVar(&services, "services", "all", hub.ServicesUsage())
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "bearer token for /v1/admin/* (empty: admin endpoints off)")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "JetStream stream replicas (3 on a cluster)")
	fs.StringVar(&cfg.Fsync, "fsync", "interval", "embedded JetStream disk sync: interval (NATS default) or always")
	fs.DurationVar(&cfg.DedupeWindow, "dedupe-window", 10*time.Minute, "how long JetStream recognises a repeated event id (3m-24h); the server holds every id of the window in memory, ~130 B each, four per order")
	fs.Var(&cfg.StreamLimits, "stream-max-bytes", "the `size` each stream may hold (default 1GiB, XD_OUT 4GiB), then optional per-stream overrides, as 2GiB,XD_OUT=8GiB (unlimited: no limit); a full XD_IN refuses new events (HTTP 507 storage_full), a full DLQ drops its oldest letters")
	fs.Float64Var(&cfg.BulkYield, "bulk-yield", hub.DefaultBulkYield, "slow the bulk lane while the priority lane's p95 is more than this many times its usual median; negative: never")
	fs.Float64Var(&cfg.BulkShare, "bulk-share", hub.DefaultBulkShare, "the bulk lane keeps at least this many times the priority lane's rate, however slowed")
	fs.IntVar(&cfg.BulkSlots, "bulk-slots", 0, "strict priority: handle bulk-lane events only while no priority-lane event is handled, at most this many at once; 0: off")
	fs.BoolVar(&cfg.BulkConn, "bulk-conn", false, "run the bulk lane's consumers on a NATS connection of their own")
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
