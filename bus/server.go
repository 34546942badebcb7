package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// Listen is the client address, host:port; "none" (or empty) opens no
	// port and the server is reachable in-process only.
	Listen string
	// StoreDir is JetStream's file storage directory.
	StoreDir string
	// SyncAlways makes JetStream fsync every write instead of NATS's default
	// interval (about 2 minutes): slower, but survives an OS crash.
	SyncAlways bool
	// MaxPayload is the largest message the server takes; 0 means 2 MiB, a
	// little above the hub's 1 MiB event limit so that oversized events reach
	// the intake and are rejected with a reason instead of at the socket.
	MaxPayload int32
	// Auth, when set, decides every client connection (see Authenticator).
	Auth server.Authentication
	// TLS, when set, is required of every client on the client port.
	TLS *tls.Config
	// MaxStore bounds JetStream's file storage in bytes; 0 leaves the
	// server's default, three quarters of the disk space free at start.
	MaxStore int64
}

// RunServer starts an embedded nats-server with JetStream and waits until it
// takes connections.
func RunServer(cfg ServerConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "crossdock",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
		// JetStreamMaxStore 0 is the server's own default.
		JetStreamMaxStore: cfg.MaxStore,
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 2 << 20
	}
	if cfg.SyncAlways {
		opts.SyncAlways = true
	}
	if cfg.Listen == "" || cfg.Listen == "none" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", port, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	if cfg.TLS != nil {
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, cfg.TLS, 5
	}
	if cfg.Auth != nil {
		opts.CustomClientAuthentication = cfg.Auth
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("start nats server: not ready after 30s (is the port taken?)")
	}
	return s, nil
}
