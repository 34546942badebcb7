package main

import (
	"bytes"
	"errors"
	"flag"
	"go.uber.org/zap"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/deploy"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/services/accounts"
)

// clearEnv unsets every CROSSDOCK_ variable for the test, so that the
// environment the tests run in cannot change what they see.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CROSSDOCK_") {
			t.Setenv(name, "") // restores the value when the test ends
			if err := os.Unsetenv(name); err != nil {
				t.Fatalf("unset %s: %v", name, err)
			}
		}
	}
}

// defaults is the configuration of CONTRACT.md section 1 with no flag and no
// environment.
var defaults = hub.Config{
	HTTP:       "127.0.0.1:8080",
	NATSListen: "127.0.0.1:4222",
	Data:       "./data",
	Accounts:   "deploy/accounts.example.yaml",
	Services:   []string{"all"},
	Replicas:   1,
	Fsync:      "interval",

	WebhookAttempts: 10,
	WebhookMaxAge:   24 * time.Hour,
	DedupeWindow:    10 * time.Minute,
	BulkYield:       hub.DefaultBulkYield,
	BulkShare:       hub.DefaultBulkShare,
}

func TestParseFlags(t *testing.T) {
	with := func(f func(c *hub.Config)) hub.Config {
		c := defaults
		c.Services = append([]string(nil), defaults.Services...)
		f(&c)
		return c
	}
	tests := []struct {
		name          string
		env           map[string]string
		args          []string
		want          hub.Config
		wantLogFormat string
	}{
		{
			name:          "no flag and no environment gives the contract's defaults",
			want:          defaults,
			wantLogFormat: "console",
		},
		{
			name: "every flag is read from the command line",
			args: []string{"--http", "0.0.0.0:9000", "--nats-listen", "none", "--nats-url", "nats://nats:4222", "--data", "/var/lib/crossdock",
				"--accounts", "/etc/crossdock/accounts.yaml", "--tiers", "/etc/crossdock/tiers.yaml", "--services", "gateway, router",
				"--admin-token", "s3cret", "--replicas", "3", "--fsync", "always", "--log-format", "json"},
			want: hub.Config{HTTP: "0.0.0.0:9000", NATSListen: "none", NATSURL: "nats://nats:4222", Data: "/var/lib/crossdock",
				Accounts: "/etc/crossdock/accounts.yaml", Tiers: "/etc/crossdock/tiers.yaml", Services: []string{"gateway", "router"},
				AdminToken: "s3cret", Replicas: 3, Fsync: "always", WebhookAttempts: 10, WebhookMaxAge: 24 * time.Hour, DedupeWindow: 10 * time.Minute, BulkYield: hub.DefaultBulkYield, BulkShare: hub.DefaultBulkShare},
			wantLogFormat: "json",
		},
		{
			name: "every flag is read from its CROSSDOCK_ variable",
			env: map[string]string{"CROSSDOCK_HTTP": "0.0.0.0:9000", "CROSSDOCK_NATS_LISTEN": "none", "CROSSDOCK_NATS_URL": "nats://nats:4222",
				"CROSSDOCK_DATA": "/var/lib/crossdock", "CROSSDOCK_ACCOUNTS": "/etc/crossdock/accounts.yaml", "CROSSDOCK_TIERS": "/etc/crossdock/tiers.yaml",
				"CROSSDOCK_SERVICES": "gateway,router", "CROSSDOCK_ADMIN_TOKEN": "s3cret", "CROSSDOCK_REPLICAS": "3", "CROSSDOCK_FSYNC": "always",
				"CROSSDOCK_LOG_FORMAT": "json"},
			want: hub.Config{HTTP: "0.0.0.0:9000", NATSListen: "none", NATSURL: "nats://nats:4222", Data: "/var/lib/crossdock",
				Accounts: "/etc/crossdock/accounts.yaml", Tiers: "/etc/crossdock/tiers.yaml", Services: []string{"gateway", "router"},
				AdminToken: "s3cret", Replicas: 3, Fsync: "always", WebhookAttempts: 10, WebhookMaxAge: 24 * time.Hour, DedupeWindow: 10 * time.Minute, BulkYield: hub.DefaultBulkYield, BulkShare: hub.DefaultBulkShare},
			wantLogFormat: "json",
		},
		{
			name:          "--dedupe-window sets the duplicate window",
			args:          []string{"--dedupe-window", "3m"},
			want:          with(func(c *hub.Config) { c.DedupeWindow = 3 * time.Minute }),
			wantLogFormat: "console",
		},
		{
			name: "--stream-max-bytes sets every stream's limit and overrides",
			args: []string{"--stream-max-bytes", "2GiB,XD_DLQ=4GiB"},
			want: with(func(c *hub.Config) {
				c.StreamLimits = bus.StreamLimits{Default: 2 << 30, Streams: map[string]int64{"XD_DLQ": 4 << 30}}
			}),
			wantLogFormat: "console",
		},
		{
			name:          "CROSSDOCK_STREAM_MAX_BYTES sets --stream-max-bytes",
			env:           map[string]string{"CROSSDOCK_STREAM_MAX_BYTES": "unlimited"},
			want:          with(func(c *hub.Config) { c.StreamLimits = bus.StreamLimits{Default: bus.Unlimited} }),
			wantLogFormat: "console",
		},
		{
			name:          "--bulk-yield sets how far the priority lane may slow before the bulk lane does",
			args:          []string{"--bulk-yield", "5"},
			want:          with(func(c *hub.Config) { c.BulkYield = 5 }),
			wantLogFormat: "console",
		},
		{
			name:          "--bulk-share sets what the bulk lane keeps",
			args:          []string{"--bulk-share", "3"},
			want:          with(func(c *hub.Config) { c.BulkShare = 3 }),
			wantLogFormat: "console",
		},
		{
			name:          "a negative --bulk-yield turns the governor off",
			args:          []string{"--bulk-yield", "-1"},
			want:          with(func(c *hub.Config) { c.BulkYield = -1 }),
			wantLogFormat: "console",
		},
		{
			name:          "CROSSDOCK_NATS_LISTEN sets --nats-listen",
			env:           map[string]string{"CROSSDOCK_NATS_LISTEN": "127.0.0.1:14222"},
			want:          with(func(c *hub.Config) { c.NATSListen = "127.0.0.1:14222" }),
			wantLogFormat: "console",
		},
		{
			name:          "a flag on the command line wins over the environment",
			env:           map[string]string{"CROSSDOCK_HTTP": "0.0.0.0:9000", "CROSSDOCK_REPLICAS": "5"},
			args:          []string{"--http", "127.0.0.1:9001", "--replicas=3"},
			want:          with(func(c *hub.Config) { c.HTTP = "127.0.0.1:9001"; c.Replicas = 3 }),
			wantLogFormat: "console",
		},
		{
			name:          "the environment fills in what the command line leaves out",
			env:           map[string]string{"CROSSDOCK_DATA": "/srv/data"},
			args:          []string{"--http", "127.0.0.1:9001"},
			want:          with(func(c *hub.Config) { c.HTTP = "127.0.0.1:9001"; c.Data = "/srv/data" }),
			wantLogFormat: "console",
		},
		{
			name:          "an empty variable sets the flag to empty",
			env:           map[string]string{"CROSSDOCK_ADMIN_TOKEN": ""},
			want:          defaults,
			wantLogFormat: "console",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, logFormat, logLevel, err := parseFlags(tc.args)
			if err != nil {
				t.Fatalf("parseFlags(%q) with %v: %v", tc.args, tc.env, err)
			}
			if !reflect.DeepEqual(cfg, tc.want) {
				t.Errorf("parseFlags(%q) with %v = %+v, want %+v", tc.args, tc.env, cfg, tc.want)
			}
			if logFormat != tc.wantLogFormat || logLevel != "info" {
				t.Errorf("parseFlags(%q) with %v logs %s at %s, want %s at info", tc.args, tc.env, logFormat, logLevel, tc.wantLogFormat)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		// want are the pieces the error must name.
		want []string
	}{
		{
			name: "a bad value of an int variable is an error naming the variable",
			env:  map[string]string{"CROSSDOCK_REPLICAS": "three"},
			want: []string{"CROSSDOCK_REPLICAS", "three"},
		},
		{
			name: "a bad value of an int flag is an error naming the flag",
			args: []string{"--replicas", "three"},
			want: []string{"replicas", "three"},
		},
		{
			name: "a --stream-max-bytes naming no stream of the hub is an error naming it",
			args: []string{"--stream-max-bytes", "XD_ALL=1GiB"},
			want: []string{"stream-max-bytes", "XD_ALL"},
		},
		{
			name: "an unknown flag is an error naming it",
			args: []string{"--colour", "blue"},
			want: []string{"colour"},
		},
		{
			name: "a positional argument is an error naming it",
			args: []string{"--http", "127.0.0.1:9001", "serve"},
			want: []string{`"serve"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, _, _, err := parseFlags(tc.args)
			if err == nil {
				t.Fatalf("parseFlags(%q) with %v = nil error, want one naming %q", tc.args, tc.env, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("parseFlags(%q) with %v error = %q, want it to name %q", tc.args, tc.env, err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("parseFlags(%q) with %v error = %q, want one line", tc.args, tc.env, err)
			}
		})
	}
}

func TestRunHelpIsNotAFailure(t *testing.T) {
	clearEnv(t)
	for _, arg := range []string{"-h", "--help"} {
		if err := run([]string{arg}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%q) = %v, want flag.ErrHelp (main exits 0 on it: the usage is the answer)", arg, err)
		}
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-accounts.yaml")
	badTier := filepath.Join(dir, "bad-tier.yaml")
	if err := os.WriteFile(badTier, []byte(`
warehouses:
  - id: dc-east
accounts:
  - id: acme
    name: ACME Retail
    tier: platinum
    locations:
      - {gln: "0614141000005", type: dc, warehouse: dc-east}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The cases past the accounts file's name it too, so that a check that
	// let a bad value through fails the test instead of starting a hub.
	tests := []struct {
		name string
		args []string
		// want are the pieces the one-line error must name.
		want []string
	}{
		{
			name: "a missing accounts file is an error naming the file",
			args: []string{"--accounts", missing},
			want: []string{missing},
		},
		{
			name: "an accounts file with a bad tier is an error naming the file and the tier",
			args: []string{"--accounts", badTier},
			want: []string{badTier, "platinum", "acme"},
		},
		{
			name: "an --fsync that is neither interval nor always is an error naming --fsync",
			args: []string{"--accounts", badTier, "--fsync", "sometimes"},
			want: []string{"--fsync", "sometimes"},
		},
		{
			name: "a --dedupe-window shorter than a redelivery is an error naming --dedupe-window",
			args: []string{"--accounts", badTier, "--dedupe-window", "30s"},
			want: []string{"--dedupe-window", "30s"},
		},
		{
			name: "a --bulk-yield under 1.5 is an error naming --bulk-yield",
			args: []string{"--accounts", badTier, "--bulk-yield", "1.2"},
			want: []string{"--bulk-yield", "1.2"},
		},
		{
			name: "a negative --bulk-share is an error naming --bulk-share",
			args: []string{"--accounts", badTier, "--bulk-share", "-2"},
			want: []string{"--bulk-share", "-2"},
		},
		{
			name: "a --services naming no service is an error naming --services",
			args: []string{"--accounts", badTier, "--services", "gateway,teleport"},
			want: []string{"--services", "teleport"},
		},
		{
			name: "a bad --log-format is an error naming --log-format",
			args: []string{"--accounts", badTier, "--log-format", "xml"},
			want: []string{"--log-format", "xml"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			args := append([]string{"--data", t.TempDir(), "--http", "127.0.0.1:0", "--nats-listen", "none"}, tc.args...)
			err := run(args)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error naming %q", args, tc.want)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("run(%q) error = %q, want one line", args, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("run(%q) error = %q, want it to name %q", args, msg, w)
				}
			}
		})
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	clearEnv(t)
	var out bytes.Buffer
	usageOutput = &out
	t.Cleanup(func() { usageOutput = os.Stderr })
	for _, args := range [][]string{{"--help"}, nil} {
		out.Reset()
		var err error
		if args == nil {
			err = helpTo(&out, nil) // crossdock help
		} else {
			_, _, _, err = parseFlags(args)
		}
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("help %v = %v, want the usage", args, err)
		}
		for _, want := range []string{"crossdock help", "send", "dlq", "replay", "bench", "-accounts", "-nats-url"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("help %v printed %q, want it to name %q", args, out.String(), want)
			}
		}
	}
	if err := help([]string{"teleport"}); err == nil {
		t.Errorf("help teleport = nil, want an error naming no such command")
	}
}

func TestHelpListsEveryService(t *testing.T) {
	clearEnv(t)
	var out bytes.Buffer
	usageOutput = &out
	t.Cleanup(func() { usageOutput = os.Stderr })
	if _, _, _, err := parseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(--help) = %v, want flag.ErrHelp", err)
	}
	for _, name := range hub.Services() {
		if !strings.Contains(out.String(), name+": ") {
			t.Errorf("help printed %q, want a line saying what the %s service does", out.String(), name)
		}
	}
	// edi runs with the gateway: the gateway's line names it.
	if !strings.Contains(out.String(), "(edi)") {
		t.Errorf("help printed %q, want the gateway's line to name edi", out.String())
	}
}

func TestAccountsFileOutsideACheckout(t *testing.T) {
	// The test runs in cmd/crossdock, where deploy/accounts.example.yaml is
	// not: as a binary run anywhere but the repository's root.
	data := t.TempDir()
	log := zap.NewNop()
	got, err := accountsFile(defaultAccounts, data, log)
	if err != nil {
		t.Fatalf("accountsFile(default) = %v", err)
	}
	if want := filepath.Join(data, "accounts.example.yaml"); got != want {
		t.Errorf("accountsFile(default) = %q, want the built-in example written to %q", got, want)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, deploy.AccountsExample) {
		t.Errorf("the written example differs from deploy/accounts.example.yaml")
	}
	f, err := accounts.ParseFile(b, accounts.DefaultTiers())
	if err != nil {
		t.Fatalf("the built-in example does not load: %v", err)
	}
	for _, a := range f.Accounts {
		if a.Webhook != nil {
			t.Errorf("the example gives %s a webhook (%s): two dev hubs on one machine would post into each other's receivers", a.ID, a.Webhook.URL)
		}
	}

	// An edited copy is kept, not overwritten by the next start.
	if err := os.WriteFile(got, append(b, "# edited\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if again, err := accountsFile(defaultAccounts, data, log); err != nil || again != got {
		t.Fatalf("accountsFile(default) again = %q, %v; want %q", again, err, got)
	}
	if b2, _ := os.ReadFile(got); !bytes.HasSuffix(b2, []byte("# edited\n")) {
		t.Errorf("the second start overwrote the edited copy")
	}

	// A named file is the hub's to open, even a missing one.
	named := filepath.Join(data, "mine.yaml")
	if got, err := accountsFile(named, data, log); err != nil || got != named {
		t.Errorf("accountsFile(%q) = %q, %v; want it unchanged", named, got, err)
	}
}
