package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

const (
	hubToken      = "hub-secret-token"
	operatorToken = "operator-secret-token"
)

// authFor is the authenticator of the tokens, admitting r's keys.
func authFor(r *Registry, hub, operator string) *Authenticator {
	a := NewAuthenticator(hub, operator)
	a.Use(r)
	return a
}

// authServer runs a second server that authenticates with the registry of
// withExample (which keeps its bucket on a plain first server), and sets up
// the hub's streams on it through a hub connection.
func authServer(t *testing.T) (*server.Server, *Registry) {
	t.Helper()
	r, _ := withExample(t)
	s, err := bus.RunServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Auth: authFor(r, hubToken, operatorToken)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	hub := connect(t, s, nats.Token(hubToken))
	b, err := bus.New(hub, bustest.Logger(t), bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Setup(testContext(t)); err != nil {
		t.Fatal(err)
	}
	return s, r
}

func connect(t *testing.T, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	// Violations are read from LastError; keep the default handler quiet.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(s.ClientURL(), append([]nats.Option{quiet}, opts...)...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// violation publishes or subscribes and returns the permissions error the
// server answers with, or nil. The server reports a violation before the
// PONG of the flush, so after Flush the error is known.
func violation(t *testing.T, nc *nats.Conn, op func(*nats.Conn) error) error {
	t.Helper()
	if err := op(nc); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.LastError(); err != nil && errors.Is(err, nats.ErrPermissionViolation) {
		return err
	}
	return nil
}

func TestNATSAuthConfinesAccountsToTheirSubjects(t *testing.T) {
	s, _ := authServer(t)
	hub := connect(t, s, nats.Token(hubToken))
	acmeCreds := []nats.Option{nats.UserInfo("acme", "xd_dev_acme"), nats.CustomInboxPrefix("_INBOX_acme")}

	t.Run("acme can publish on its own intake subject", func(t *testing.T) {
		got, err := hub.SubscribeSync("xd.in.acme.order.placed")
		if err != nil {
			t.Fatal(err)
		}
		if err := hub.Flush(); err != nil {
			t.Fatal(err)
		}
		acme := connect(t, s, acmeCreds...)
		if err := violation(t, acme, func(nc *nats.Conn) error {
			return nc.Publish("xd.in.acme.order.placed", []byte(`{}`))
		}); err != nil {
			t.Fatalf("publish xd.in.acme.order.placed: %v", err)
		}
		if _, err := got.NextMsg(5 * time.Second); err != nil {
			t.Errorf("the hub did not receive acme's event: %v", err)
		}
	})

	t.Run("acme can publish to JetStream and get the ack on its inbox", func(t *testing.T) {
		// As the gateway's intake relay does: the hub takes acme's message
		// and stores it on the intake subject with acme's reply subject, so
		// that JetStream's ack reaches acme's inbox.
		relay, err := hub.Subscribe("xd.in.acme.>", func(m *nats.Msg) {
			_ = hub.PublishMsg(&nats.Msg{Subject: bus.IntakePrefix + m.Subject, Reply: m.Reply, Header: m.Header, Data: m.Data})
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = relay.Unsubscribe() }()
		if err := hub.Flush(); err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(connect(t, s, acmeCreds...))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := js.Publish(ctx, "xd.in.acme.inventory.reported", []byte(`{}`)); err != nil {
			t.Errorf("JetStream publish as acme: %v", err)
		}
	})

	t.Run("acme can key in with a token too", func(t *testing.T) {
		acme := connect(t, s, nats.Token("xd_dev_acme"), nats.CustomInboxPrefix("_INBOX_acme"))
		if err := violation(t, acme, func(nc *nats.Conn) error {
			return nc.Publish("xd.in.acme.order.placed", []byte(`{}`))
		}); err != nil {
			t.Errorf("publish with a token: %v", err)
		}
	})

	t.Run("acme receives its outbound events", func(t *testing.T) {
		acme := connect(t, s, acmeCreds...)
		sub, err := acme.SubscribeSync("xd.out.acme.>")
		if err != nil {
			t.Fatal(err)
		}
		if err := acme.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := hub.Publish("xd.out.acme.order.accepted", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Errorf("acme did not receive xd.out.acme.order.accepted: %v", err)
		}
	})

	denied := []struct {
		name string
		op   func(*nats.Conn) error
	}{
		{"acme cannot publish as globex", func(nc *nats.Conn) error {
			return nc.Publish("xd.in.globex.order.placed", []byte(`{}`))
		}},
		{"acme cannot publish as a warehouse", func(nc *nats.Conn) error {
			return nc.Publish("xd.in.wh.dc-east.shipment.dispatched", []byte(`{}`))
		}},
		{"acme cannot store on the hub's intake subjects", func(nc *nats.Conn) error {
			return nc.Publish(bus.IntakePrefix+"xd.in.acme.order.placed", []byte(`{}`))
		}},
		{"acme cannot store a file on the hub's intake subjects", func(nc *nats.Conn) error {
			return nc.Publish(bus.IntakePrefix+"xd.raw.acme.csv", []byte(`{}`))
		}},
		{"acme cannot publish routed events", func(nc *nats.Conn) error {
			return nc.Publish("xd.routed.strategic.acme.order.placed", []byte(`{}`))
		}},
		{"acme cannot read globex's events", func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync("xd.out.globex.>")
			return err
		}},
		{"acme cannot read everything", func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync(">")
			return err
		}},
		{"acme cannot read the default inboxes", func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync("_INBOX.>")
			return err
		}},
	}
	for _, tc := range denied {
		t.Run(tc.name, func(t *testing.T) {
			err := violation(t, connect(t, s, acmeCreds...), tc.op)
			if err == nil || !strings.Contains(err.Error(), "Permissions Violation") {
				t.Errorf("got %v, want a permissions violation", err)
			}
		})
	}
}

func TestNATSAuthConfinesWarehousesToTheirSubjects(t *testing.T) {
	s, _ := authServer(t)
	creds := []nats.Option{nats.UserInfo("dc-east", "xd_dev_dc_east"), nats.CustomInboxPrefix("_INBOX_wh_dc-east")}
	tests := []struct {
		name    string
		op      func(*nats.Conn) error
		allowed bool
	}{
		{"a warehouse can publish on its intake subject", func(nc *nats.Conn) error {
			return nc.Publish("xd.in.wh.dc-east.shipment.dispatched", []byte(`{}`))
		}, true},
		{"a warehouse can read its work", func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync("xd.wh.dc-east.>")
			return err
		}, true},
		{"a warehouse cannot publish as another warehouse", func(nc *nats.Conn) error {
			return nc.Publish("xd.in.wh.dc-west.shipment.dispatched", []byte(`{}`))
		}, false},
		{"a warehouse cannot store on the hub's intake subjects", func(nc *nats.Conn) error {
			return nc.Publish(bus.IntakePrefix+"xd.in.wh.dc-east.shipment.dispatched", []byte(`{}`))
		}, false},
		{"a warehouse cannot publish as an account", func(nc *nats.Conn) error {
			return nc.Publish("xd.in.acme.order.placed", []byte(`{}`))
		}, false},
		{"a warehouse cannot read another warehouse's work", func(nc *nats.Conn) error {
			_, err := nc.SubscribeSync("xd.wh.dc-west.>")
			return err
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := violation(t, connect(t, s, creds...), tc.op)
			if tc.allowed && err != nil {
				t.Errorf("got %v, want it allowed", err)
			}
			if !tc.allowed && (err == nil || !strings.Contains(err.Error(), "Permissions Violation")) {
				t.Errorf("got %v, want a permissions violation", err)
			}
		})
	}
}

func TestNATSAuthRefusesUnknownKeys(t *testing.T) {
	s, r := authServer(t)
	tests := []struct {
		name string
		opts []nats.Option
	}{
		{"a wrong key cannot connect", []nats.Option{nats.UserInfo("acme", "xd_dev_wrong")}},
		{"no credentials cannot connect", nil},
		{"the hub token given as a password cannot connect", []nats.Option{nats.UserInfo("crossdock", hubToken)}},
		{"a key's digest cannot connect", []nats.Option{nats.Token(HashKey("xd_dev_acme"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(s.ClientURL(), append(tc.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
				t.Fatal("connected, want an authorization error")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("connect error = %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}

	t.Run("an account removed from the file can no longer connect", func(t *testing.T) {
		f := exampleFile(t)
		f.Accounts = f.Accounts[:3] // without umbrella
		if _, err := r.Apply(testContext(t), f); err != nil {
			t.Fatal(err)
		}
		if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("umbrella", "xd_dev_umbrella")); err == nil {
			nc.Close()
			t.Error("umbrella connected after its removal")
		}
	})
}

func TestNATSAuthWithoutHubTokenAdmitsNoHub(t *testing.T) {
	r, _ := withExample(t)
	s, err := bus.RunServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Auth: authFor(r, "", "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	if nc, err := nats.Connect(s.ClientURL(), nats.Token("")); err == nil {
		nc.Close()
		t.Error("an empty token connected with an empty hub token")
	}
	if nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("acme", "xd_dev_acme")); err != nil {
		t.Errorf("acme cannot connect: %v", err)
	} else {
		nc.Close()
	}
}

func TestNATSAuthAdmitsTheHubAndTheOperatorBeforeTheRegistry(t *testing.T) {
	r, _ := withExample(t)
	a := NewAuthenticator(hubToken, operatorToken)
	s, err := bus.RunServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	tests := []struct {
		name      string
		opt       nats.Option
		before    bool // admitted before the registry is given
		after     bool // admitted once it is
		watchesXD bool // may subscribe to every subject
	}{
		{name: "the hub's token", opt: nats.Token(hubToken), before: true, after: true, watchesXD: true},
		{name: "the operator's token", opt: nats.Token(operatorToken), before: true, after: true, watchesXD: true},
		{name: "an account's key", opt: nats.UserInfo("acme", "xd_dev_acme"), after: true},
		{name: "a wrong token", opt: nats.Token("guess")},
	}
	try := func(t *testing.T, opt nats.Option, want, watches bool) {
		t.Helper()
		nc, err := nats.Connect(s.ClientURL(), opt, nats.MaxReconnects(0))
		if (err == nil) != want {
			t.Fatalf("connected = %v (%v), want %v", err == nil, err, want)
		}
		if err != nil {
			return
		}
		defer nc.Close()
		if !watches {
			return
		}
		if _, err := nc.SubscribeSync("xd.>"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil || nc.LastError() != nil {
			t.Errorf("subscribe to xd.>: %v %v", err, nc.LastError())
		}
	}
	for _, tc := range tests {
		t.Run(tc.name+" before the registry", func(t *testing.T) { try(t, tc.opt, tc.before, tc.watchesXD) })
	}
	a.Use(r)
	for _, tc := range tests {
		t.Run(tc.name+" with the registry", func(t *testing.T) { try(t, tc.opt, tc.after, tc.watchesXD) })
	}
}
