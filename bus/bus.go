package bus

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Stream names (CONTRACT.md section 3).
const (
	StreamIn     = "XD_IN"
	StreamRouted = "XD_ROUTED"
	StreamOut    = "XD_OUT"
	StreamDLQ    = "XD_DLQ"
	// StreamRaw holds partners' files as sent (xd.raw.<account>.<format>,
	// xd.raw.wh.<warehouse>.<format>) until the gateway's adapters turn them
	// into events on xd.in. A stream of its own, so that the router's
	// xd.in.> consumer never sees a file.
	StreamRaw = "XD_RAW"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id by default:
// a publish retried within it is acknowledged but stored once. Services also
// keep their own idempotency (by event id in their state) for retries after
// it. The server holds every id of the window in memory, about 130 bytes
// each, four per order (intake, lane, two answers): at 5,000 orders/s a
// 10-minute window is about 1.5 GB (Options.DuplicateWindow).
const DuplicateWindow = 10 * time.Minute

// publishWindow bounds the asynchronous publishes of one connection that
// JetStream has not yet acknowledged; a publish beyond it waits up to 200 ms,
// then fails (and its message is retried). Each consumer may have
// settleWindow messages' outputs in flight: the hub's consumers (about
// twenty, most making one or two outputs a message) stay below it.
const publishWindow = 16384

// Bus is a connection to NATS with JetStream, and the publish and consume
// operations every service builds on.
type Bus struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *zap.Logger
	replicas int
	dupes    time.Duration
	ackWait  time.Duration
	backoff  []time.Duration
	limits   StreamLimits
	metrics  *metrics
}

// Options configures a Bus.
type Options struct {
	// Replicas is the replica count of streams and buckets (1 on one server,
	// 3 on a cluster). Zero means 1.
	Replicas int
	// Metrics, when set, receives the bus's Prometheus collectors.
	Metrics prometheus.Registerer
	// DuplicateWindow is the streams' duplicate window; zero means
	// DuplicateWindow. Shorter bounds the server's memory at high rates; it
	// must stay longer than the gap between two attempts at one event (the
	// AckWait plus the longest backoff: 2.5 minutes), or answers an attempt
	// stored before failing are stored again (with the same ids) by the next.
	DuplicateWindow time.Duration
	// StreamLimits bound the bytes of each stream; the zero value gives
	// every stream DefaultStreamMaxBytes. Every process of a hub should be
	// given the same: each one's Setup applies its own.
	StreamLimits StreamLimits
	// AckWait is the AckWait of the consumers whose ConsumerConfig sets
	// none; zero means DefaultAckWait. Every process of a hub should be
	// given the same, or each start updates the shared consumers to its
	// own. Tests that kill a process set it short, so that what the dead
	// process held is redelivered in seconds.
	AckWait time.Duration
	// Backoff is the Backoff of the consumers whose ConsumerConfig sets
	// none; nil means DefaultBackoff. Tests that kill a node set it short:
	// a message that failed its third attempt during the leader election
	// otherwise waits 30 s for its fourth.
	Backoff []time.Duration
}

// Credentials are how a connection authenticates and whom it trusts. At
// most one of Token, User (with Password), CredsFile and NKeyFile is set.
type Credentials struct {
	Token     string // the embedded server's hub token, or the operator's admin token
	User      string
	Password  string
	CredsFile string // a user JWT and its seed (nsc's .creds)
	NKeyFile  string // an nkey seed (SU...), for a user configured by its public key
	// CAFile is the CA that signed the cluster's certificates; with it the
	// connection requires TLS.
	CAFile string
	// ServerCert, when set, is the one certificate the server may present:
	// the hub pins its embedded server's own certificate, whatever names it
	// was issued for.
	ServerCert *x509.Certificate
}

// options turns c into nats.go options.
func (c Credentials) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", c.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.ServerCert != nil {
		want := c.ServerCert.Raw
		opts = append(opts, nats.Secure(&tls.Config{
			MinVersion: tls.VersionTLS12,
			// The name checks are replaced by pinning: only this exact
			// certificate is accepted.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
					return errors.New("the embedded NATS server presented another certificate than its own")
				}
				return nil
			},
		}))
	}
	return opts, nil
}

// Dial connects to a NATS server: by URL, or to an embedded server when s is
// not nil, authenticating with cred; its errors never show the URL's user
// information. extra options come last and override the defaults.
//
// An embedded server with a client port is dialled over loopback TCP, not
// in-process: nats.InProcessServer's connection is a net.Pipe, whose every
// write waits for the server's read loop to take it, and the same pipeline
// ran 10-12% more orders per CPU second over loopback (docs/performance.md).
// A server without a client port (--nats-listen none) is dialled in-process.
func Dial(url string, s *server.Server, name string, cred Credentials, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	auth, err := cred.options()
	if err != nil {
		return nil, err
	}
	opts = append(append(opts, auth...), extra...)
	if s != nil {
		if addr, ok := s.Addr().(*net.TCPAddr); ok {
			url = "nats://" + loopback(addr)
		} else {
			opts = append(opts, nats.InProcessServer(s))
			url = ""
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", RedactURL(url), err)
	}
	return nc, nil
}

// RedactURL returns a NATS URL (or a comma-separated list of them) fit for
// logs and errors: the user information (user:password@ or token@) is
// replaced, whatever it holds.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "@") {
			parts[i] = p
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			parts[i] = "(a URL that does not parse, withheld)"
			continue
		}
		u.User = url.User("REDACTED")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// loopback is the address to dial a listener on from the same machine: its
// own, or 127.0.0.1 for one on every address (0.0.0.0, or :: which Go
// listens on dual-stack).
func loopback(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(addr.Port))
}

// New builds a Bus on an open connection. It does not create streams: call Setup.
func New(nc *nats.Conn, log *zap.Logger, o Options) (*Bus, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DuplicateWindow
	}
	b := &Bus{nc: nc, js: js, log: log, replicas: o.Replicas, dupes: o.DuplicateWindow, ackWait: o.AckWait, backoff: o.Backoff, limits: o.StreamLimits, metrics: newMetrics(o.Metrics)}
	if o.Metrics != nil {
		o.Metrics.MustRegister(newStreamUsage(b))
	}
	return b, nil
}

// Using returns a Bus like b that publishes and consumes on nc, another
// connection to the same NATS: for work that must not queue behind b's
// own in one socket and one server read loop (a bulk lane's, beside the
// priority lane's). Its streams are b's; closing nc is the caller's.
func (b *Bus) Using(nc *nats.Conn) (*Bus, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c := *b
	c.nc, c.js = nc, js
	return &c, nil
}

// Conn returns the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context, for services that need more than
// publish and consume (KV watchers, stream reads).
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// streamConfigs are the hub's five streams. Limits retention keeps events for
// inspection and replay; consumers track their own progress. Each is bounded
// by age and by bytes (StreamLimits, discardPolicy).
func (b *Bus) streamConfigs() []jetstream.StreamConfig {
	const day = 24 * time.Hour
	intake := func(cfg jetstream.StreamConfig, customer string) jetstream.StreamConfig {
		cfg.Subjects = []string{IntakePrefix + customer}
		cfg.SubjectTransform = &jetstream.SubjectTransformConfig{Source: IntakePrefix + customer, Destination: customer}
		return cfg
	}
	base := func(name, desc string, subjects []string, maxAge time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    subjects,
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     discardPolicy(name),
			MaxAge:      maxAge,
			MaxBytes:    b.limits.MaxBytes(name),
			Replicas:    b.replicas,
			Duplicates:  b.dupes,
		}
	}
	return []jetstream.StreamConfig{
		intake(base(StreamIn, "events from customers, readers and warehouses, as sent", nil, 7*day), AllIn),
		base(StreamRouted, "checked events in their tier lanes", []string{AllRouted}, 7*day),
		base(StreamOut, "events the hub makes for customers and warehouses", []string{AllOut, AllWarehouses, AllExperiments}, 30*day),
		base(StreamDLQ, "events that could not be processed, with their original bytes and the reason", []string{AllDLQ}, 90*day),
		intake(base(StreamRaw, "partners' files (X12, CSV, …) as sent, before the adapters", nil, 7*day), AllRaw),
	}
}

// Setup creates or updates the streams, idempotently: every process calls it
// at start, and any number may call it at once on a fresh cluster
// (EnsureStream).
func (b *Bus) Setup(ctx context.Context) error {
	for _, cfg := range b.streamConfigs() {
		_, err := b.EnsureStream(ctx, cfg)
		if storageExceeded(err) {
			return fmt.Errorf("%w: JetStream reserves each stream's limit on this server's storage (by default 3/4 of the disk space free when it started); lower --stream-max-bytes or free disk space", err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// EnsureStream makes stream cfg exist with cfg's settings, tolerant of
// other processes doing the same at the same moment. It creates first (a
// create of an identical stream succeeds), and only when the stream exists
// with other settings reads it and updates it, and only if a setting cfg
// names differs: settings cfg leaves at their zero value are the server's
// to keep. An update before a create is what hung two processes started
// together on a fresh R3 cluster. Every request has a short deadline and
// transient failures are retried (Retry).
func (b *Bus) EnsureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	var s jetstream.Stream
	err := retry.Do(ctx, func(ctx context.Context) error {
		var err error
		s, err = b.js.CreateStream(ctx, cfg)
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && !storageExceeded(err) {
			return err
		}
		// The server checks a create against its storage before it looks
		// for the stream: an existing stream whose limit, counted twice,
		// does not fit is refused as a new one would be.
		createErr := err
		if s, err = b.js.Stream(ctx, cfg.Name); err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return createErr
			}
			return err
		}
		have := s.CachedInfo().Config
		want := overlay(have, cfg)
		if reflect.DeepEqual(have, want) {
			return nil
		}
		if err := shrinks(s.CachedInfo(), want); err != nil {
			return err
		}
		s, err = b.js.UpdateStream(ctx, want)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// storageExceeded reports whether the server refused a stream's limit:
// it does not fit in the storage the server may still reserve.
func storageExceeded(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jsErrCodeStorageResourcesExceeded
}

// shrinks reports a new MaxBytes below what a stream that refuses new
// messages (DiscardNew) already holds: JetStream would make room by
// deleting its oldest messages, acknowledged to their senders and perhaps
// not yet processed, which the policy exists to prevent. The operator
// raises the limit, or waits until enough ages out.
func shrinks(info *jetstream.StreamInfo, want jetstream.StreamConfig) error {
	if want.Discard != jetstream.DiscardNew || want.MaxBytes <= 0 || info.State.Bytes <= uint64(want.MaxBytes) {
		return nil
	}
	return fmt.Errorf("it holds %d bytes, more than the new limit of %d (--stream-max-bytes): JetStream would delete its oldest messages, which may not be processed yet; give it at least %s",
		info.State.Bytes, want.MaxBytes, formatSize(int64(info.State.Bytes)))
}

// overlay returns have with every field that want sets (not zero) taken
// from want.
func overlay(have, want jetstream.StreamConfig) jetstream.StreamConfig {
	out := have
	o, w := reflect.ValueOf(&out).Elem(), reflect.ValueOf(want)
	for i := range w.NumField() {
		if f := w.Field(i); !f.IsZero() {
			o.Field(i).Set(f)
		}
	}
	return out
}

// Bucket creates (or opens) a KV bucket with the bus's replica count.
// history is how many revisions of a key are kept (1 to 64). Like
// EnsureStream it creates first, updates only a bucket whose description,
// history or replicas differ, and retries transient failures, so that
// processes started together all come up.
func (b *Bus) Bucket(ctx context.Context, name, desc string, history uint8) (jetstream.KeyValue, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      name,
		Description: desc,
		History:     history,
		Storage:     jetstream.FileStorage,
		Replicas:    b.replicas,
	}
	var kv jetstream.KeyValue
	err := retry.Do(ctx, func(ctx context.Context) error {
		var err error
		kv, err = b.js.CreateKeyValue(ctx, cfg)
		if !errors.Is(err, jetstream.ErrBucketExists) {
			return err
		}
		s, err := b.js.Stream(ctx, BucketStream(name))
		if err != nil {
			return err
		}
		have := s.CachedInfo().Config
		if have.Description == desc && have.MaxMsgsPerSubject == int64(max(history, 1)) && have.Replicas == b.replicas {
			kv, err = b.js.KeyValue(ctx, name)
			return err
		}
		kv, err = b.js.UpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create kv bucket %s: %w", name, err)
	}
	return kv, nil
}

// Ready reports why the bus cannot serve, or nil: the connection is up and
// every stream exists.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	for _, cfg := range b.streamConfigs() {
		if _, err := b.js.Stream(ctx, cfg.Name); err != nil {
			return fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// IsConflict reports whether a KV write failed because the key's revision
// moved since it was read, or the key was created meanwhile: another worker
// won the race, and the caller should re-read rather than fail. (Codes 10071
// and, on replicated streams, 10164.)
func IsConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
