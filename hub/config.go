// Package hub assembles crossdock in one process: the embedded NATS server
// (or a connection to a cluster), the streams, the account registry, the
// services named in --services and the HTTP API. cmd/crossdock parses flags
// into a Config and calls Start; tests start hubs the same way.
package hub

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/lanes"
)

// Config is everything a hub needs, one field per command-line flag.
type Config struct {
	HTTP       string // HTTP API listen address; "" or "none" disables it
	NATSListen string // embedded server's client address; "none" for in-process only
	NATSURL    string // connect to this NATS instead of embedding one
	// How the hub authenticates to --nats-url (at most one way) and the CA
	// it trusts there: see bus.Credentials.
	NATSCreds    string // creds file
	NATSNKey     string // nkey seed file
	NATSUser     string
	NATSPassword string
	NATSCA       string
	// NATSCalloutIssuer, when set, is a file holding the account seed whose
	// public key the cluster's servers name as auth_callout { issuer }: the
	// hub then answers their auth callout from the accounts file
	// (accounts.Callout). NATSCalloutXKey is the optional curve seed file of
	// auth_callout { xkey }; NATSCalloutAccount the account clients are
	// placed in ("" means CROSSDOCK); NATSCalloutTTL how long an
	// authorization lasts (0 means 15 minutes).
	NATSCalloutIssuer  string
	NATSCalloutXKey    string
	NATSCalloutAccount string
	NATSCalloutTTL     time.Duration
	// TLSCert and TLSKey (PEM files) put the HTTP API and the embedded NATS
	// server's client port on TLS.
	TLSCert    string
	TLSKey     string
	Data       string   // embedded JetStream storage directory
	Accounts   string   // accounts file
	Tiers      string   // tier policy file; "" for the built-in one
	Services   []string // services to run; ["all"] for every one built
	AdminToken string   // bearer token of /v1/admin/*; "" disables them
	Replicas   int      // stream and bucket replicas
	Fsync      string   // interval | always
	// DedupeWindow is how long a repeated event id is recognised by
	// JetStream (bus.Options.DuplicateWindow); 0 means 10 minutes.
	DedupeWindow time.Duration
	// StreamLimits bound the bytes of each stream (--stream-max-bytes,
	// bus.StreamLimits); the zero value gives each 1 GiB.
	StreamLimits bus.StreamLimits
	// AckWait is how long the hub's consumers wait for a message's outcome
	// before it is redelivered (bus.Options.AckWait); 0 means
	// bus.DefaultAckWait. Not a flag: tests that kill a process shorten it so
	// that what the process held comes back in seconds rather than 30.
	AckWait time.Duration
	// Backoff is the delays between attempts at a message that failed
	// transiently (bus.Options.Backoff); nil means bus.DefaultBackoff. Not a
	// flag: tests that kill a node shorten it so that a message that failed
	// during the leader election is not held back 30 s.
	Backoff []time.Duration
	// NATSMaxStore bounds the embedded server's JetStream storage in bytes
	// (bus.ServerConfig.MaxStore); 0 is the server's default. Not a flag:
	// tests use it to stand for a small disk.
	NATSMaxStore int64
	// FlowPoll is how often the console's flow figures read the consumers'
	// backlogs and the DLQ's depth (flow.Config.Poll); 0 means 5 s. Not a
	// flag: tests shorten it rather than wait for the next reading.
	FlowPoll time.Duration
	// BulkYield is how many times its usual median the priority lane's
	// p95 (stored to settled, per stage) may reach before the process slows
	// its bulk lane (lanes.Governor); 0 means DefaultBulkYield, negative
	// never slows it.
	BulkYield float64
	// BulkShare is how many times the priority lane's rate the bulk lane
	// keeps however slow the priority lane is (lanes.GovernorConfig.Share);
	// 0 means DefaultBulkShare.
	BulkShare float64
	// BulkSlots, when positive, serves the lanes in strict priority
	// (lanes.GovernorConfig.Slots): the process handles a bulk event only
	// while it handles no priority event, and this many at once. Zero
	// leaves it off: on the shared two-core machine its gain could not be
	// told from the noise (docs/performance.md, 2026-12-02, strict
	// priority).
	BulkSlots int
	// BulkConn runs the bulk lane's consumers on a NATS connection of
	// their own instead of the hub's one (lanes.GovernorConfig.Bulk).
	BulkConn bool

	// Adapters are the file formats the gateway reads (POST /v1/ingest,
	// xd.raw); nil means adapters.Default, which adapters/all fills.
	Adapters *adapters.Registry
	// AccountRequests is the gateway's per-sender cap on concurrent HTTP
	// requests by lane; nil means gateway.AccountRequests. The bench lifts
	// it for its few accounts driven by many senders.
	AccountRequests map[accounts.Lane]int
	WebhookAttempts int           // POSTs per event before it is dead-lettered; 0 means 10
	WebhookMaxAge   time.Duration // how long after its first attempt an event is retried; 0 means 24h
	// Now is the clock of the planning service (which forecast weeks are
	// past, which are complete for accuracy), of the scorecard (the default
	// period, as_of) and of the VMI service's scheduled runs
	// (vmi.Config.Now); nil means time.Now. Tests set it so that they do not
	// depend on the time of day.
	Now func() time.Time
}

// The governor's defaults (lanes.Governor): the bulk lane slows once the
// priority lane's p95 is twice its usual median, down to the priority
// lane's own rate. Measured on two cores (docs/performance.md), they keep a
// strategic order's p99 under a stable flood within 2x of its p99 alone
// (x1.16-1.83, where 3 and 4 gave x2.49-3.17) for about 10% fewer orders/s
// in a saturated four-tier mix. Stable accounts, whose tier delivers in
// batches, wait while strategic ones are slowed: their events stay durable
// in XD_IN, acknowledged to the sender.
const (
	DefaultBulkYield = 2.0
	DefaultBulkShare = lanes.DefaultShare
)

// Validate reports the first thing wrong with c, as one line.
func (c *Config) Validate() error {
	if c.Fsync != "interval" && c.Fsync != "always" {
		return fmt.Errorf("--fsync %q: want interval or always", c.Fsync)
	}
	if c.DedupeWindow != 0 && (c.DedupeWindow < 3*time.Minute || c.DedupeWindow > 24*time.Hour) {
		return fmt.Errorf("--dedupe-window %s: want 3m to 24h (two attempts at an event can be 2.5 minutes apart)", c.DedupeWindow)
	}
	if c.BulkYield > 0 && c.BulkYield < 1.5 {
		return fmt.Errorf("--bulk-yield %g: want at least 1.5 (a negative value turns it off)", c.BulkYield)
	}
	if c.BulkSlots < 0 {
		return fmt.Errorf("--bulk-slots %d: want 0 (off) or more", c.BulkSlots)
	}
	if c.BulkShare < 0 {
		return fmt.Errorf("--bulk-share %g: want a positive number (0: the default, %g)", c.BulkShare, DefaultBulkShare)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("--replicas %d: want 1 to 5", c.Replicas)
	}
	if c.NATSURL == "" && c.Data == "" {
		return fmt.Errorf("--data: the embedded NATS server needs a storage directory")
	}
	if c.WebhookAttempts < 0 || c.WebhookMaxAge < 0 {
		return fmt.Errorf("--webhook-attempts and --webhook-max-age: want positive values (0: the defaults)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key: give both or neither")
	}
	ways := 0
	for _, v := range []string{c.NATSCreds, c.NATSNKey, c.NATSUser} {
		if v != "" {
			ways++
		}
	}
	if ways > 1 {
		return fmt.Errorf("--nats-creds, --nats-nkey and --nats-user: give one way to authenticate")
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		return fmt.Errorf("--nats-password: give --nats-user with it")
	}
	if (ways > 0 || c.NATSCA != "") && c.NATSURL == "" {
		return fmt.Errorf("--nats-creds, --nats-nkey, --nats-user and --nats-ca are for --nats-url (the embedded server authenticates the hub itself)")
	}
	if (c.NATSCalloutIssuer != "" || c.NATSCalloutXKey != "") && c.NATSURL == "" {
		return fmt.Errorf("--nats-callout-issuer: the auth callout serves a cluster (--nats-url); the embedded server authenticates from the accounts file itself")
	}
	if c.NATSCalloutXKey != "" && c.NATSCalloutIssuer == "" {
		return fmt.Errorf("--nats-callout-xkey: give --nats-callout-issuer with it")
	}
	if c.NATSCalloutTTL < 0 {
		return fmt.Errorf("--nats-callout-ttl %s: want a positive duration", c.NATSCalloutTTL)
	}
	if c.Accounts == "" {
		return fmt.Errorf("--accounts: name the accounts file")
	}
	for _, s := range c.Services {
		if s != "all" && !slices.Contains(serviceNames(), s) {
			return fmt.Errorf("--services: %q is not a service (%s)", s, strings.Join(serviceNames(), ", "))
		}
	}
	return nil
}

// runs reports whether the config asks for service s.
func (c *Config) runs(s string) bool {
	return slices.Contains(c.Services, "all") || slices.Contains(c.Services, s)
}

// ParseServices splits a --services value.
func ParseServices(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
