package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crossdock/crossdock/bus/bustest"
)

// caPool is a pool holding the test CA.
func caPool(t *testing.T, ca string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", ca)
	}
	return pool
}

func TestAHubWithACertificateServesHTTPAndNATSOnTLSOnly(t *testing.T) {
	t.Parallel()
	certs := bustest.WriteCerts(t)
	dir := t.TempDir()
	writeAccounts(t, dir, nil)
	h := startConfig(t, Config{
		HTTP: "127.0.0.1:0", NATSListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Accounts: filepath.Join(dir, "accounts.yaml"), Services: []string{"all"},
		Replicas: 1, Fsync: "interval", TLSCert: certs.Cert, TLSKey: certs.Key,
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(t, certs.CA)}}}
	res, err := client.Get("https://" + h.HTTPAddr() + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz over TLS: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz over TLS: %d, want 200", res.StatusCode)
	}
	if res, err := http.Get("http://" + h.HTTPAddr() + "/readyz"); err == nil {
		_ = res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("GET /readyz in clear: 200, want a refusal")
		}
	}

	url := strings.Replace(h.NATSURL(), "nats://", "tls://", 1)
	nc, err := nats.Connect(url, nats.UserInfo("acme", key("acme")), nats.RootCAs(certs.CA), nats.CustomInboxPrefix("_INBOX_acme"))
	if err != nil {
		t.Fatalf("a customer over TLS: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Errorf("the customer's connection is not on TLS")
	}
	if nc, err := nats.Connect(h.NATSURL(), nats.UserInfo("acme", key("acme"))); err == nil {
		nc.Close()
		t.Errorf("a customer who does not trust the hub's CA connected")
	}
}

// externalServer runs a NATS server with JetStream that requires TLS (from
// certs) and knows the hub as user "hub" with password and as an nkey user.
func externalServer(t *testing.T, certs bustest.Certs, password, nkeyPub string) *server.Server {
	t.Helper()
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certs.Cert, KeyFile: certs.Key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, TLS: true, TLSConfig: tlsCfg, TLSTimeout: 5,
		Users: []*server.User{{Username: "hub", Password: password}},
		Nkeys: []*server.NkeyUser{{Nkey: nkeyPub}},
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("external server not ready")
	}
	return s
}

func TestTheHubAuthenticatesToAnExternalNATSWithoutShowingItsSecrets(t *testing.T) {
	t.Parallel()
	certs := bustest.WriteCerts(t)
	const password = "pw-that-must-not-leak"
	user, _ := nkeys.CreateUser()
	seed, _ := user.Seed()
	pub, _ := user.PublicKey()
	seedFile := filepath.Join(t.TempDir(), "hub.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := externalServer(t, certs, password, pub)
	addr := s.Addr().String()
	dir := t.TempDir()
	writeAccounts(t, dir, nil)
	base := Config{HTTP: "none", Accounts: filepath.Join(dir, "accounts.yaml"), Services: []string{"router"}, Replicas: 1, Fsync: "interval", NATSCA: certs.CA}

	tests := []struct {
		name    string
		set     func(c *Config)
		wantErr bool
	}{
		{name: "a user and a password from flags", set: func(c *Config) { c.NATSURL, c.NATSUser, c.NATSPassword = "tls://"+addr, "hub", password }},
		{name: "a user and a password in the URL", set: func(c *Config) { c.NATSURL = fmt.Sprintf("tls://hub:%s@%s", password, addr) }},
		{name: "an nkey seed file", set: func(c *Config) { c.NATSURL, c.NATSNKey = "tls://"+addr, seedFile }},
		{name: "a wrong password in the URL", set: func(c *Config) { c.NATSURL = fmt.Sprintf("tls://hub:%s-wrong@%s", password, addr) }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			cfg := base
			tc.set(&cfg)
			h, err := Start(context.Background(), cfg, zap.New(core))
			if h != nil {
				h.Stop()
				_ = h.Wait()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("Start: %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), password) {
				t.Errorf("Start's error shows the password: %v", err)
			}
			for _, e := range logs.All() {
				line := fmt.Sprint(e.Message, e.ContextMap())
				if strings.Contains(line, password) || strings.Contains(line, string(seed)) {
					t.Errorf("a log line shows a secret: %s", line)
				}
			}
			if !tc.wantErr && logs.FilterMessage("crossdock started").Len() != 1 {
				t.Errorf("no started line")
			}
		})
	}
}
