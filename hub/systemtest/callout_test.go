package systemtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
)

// lockedCluster is a three-node cluster configured from the shipped
// deploy/nats/cluster.conf (auth callout, route auth, system account), with
// its secrets in the environment as docker compose sets them.
type lockedCluster struct {
	*bustest.Cluster
	hubPassword string
	issuerSeed  string // file
}

func runLockedCluster(t *testing.T) *lockedCluster {
	t.Helper()
	issuer, _ := nkeys.CreateAccount()
	seed, _ := issuer.Seed()
	pub, _ := issuer.PublicKey()
	lc := &lockedCluster{hubPassword: "hub-password-test", issuerSeed: filepath.Join(t.TempDir(), "issuer.nk")}
	if err := os.WriteFile(lc.issuerSeed, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	const routePassword = "route-password-test"
	for k, v := range map[string]string{
		"NATS_SERVER_NAME": "n0", "CROSSDOCK_NATS_PASSWORD": lc.hubPassword, "NATS_SYS_PASSWORD": "sys-password-test",
		"NATS_ROUTE_PASSWORD": routePassword, "CROSSDOCK_CALLOUT_ISSUER": pub,
		// The routes are the test's loopback ports, set below.
		"NATS_ROUTE_1": "nats-route://127.0.0.1:1", "NATS_ROUTE_2": "nats-route://127.0.0.1:2", "NATS_ROUTE_3": "nats-route://127.0.0.1:3",
	} {
		t.Setenv(k, v)
	}
	lc.Cluster = bustest.RunCluster(t, func(i int, o *server.Options) {
		shipped, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats", "cluster.conf"))
		if err != nil {
			t.Fatalf("deploy/nats/cluster.conf: %v", err)
		}
		if shipped.Cluster.Username != "route" || shipped.Cluster.Password != routePassword || shipped.SystemAccount != "SYS" || shipped.AuthCallout == nil {
			t.Fatalf("deploy/nats/cluster.conf is not locked down: route user %q, system account %q, callout %v", shipped.Cluster.Username, shipped.SystemAccount, shipped.AuthCallout)
		}
		local := *o
		*o = *shipped
		o.ServerName, o.Host, o.Port, o.StoreDir = local.ServerName, local.Host, local.Port, local.StoreDir
		o.HTTPHost, o.HTTPPort = "", 0
		o.NoLog, o.NoSigs = true, true
		o.Cluster.Host, o.Cluster.Port = local.Cluster.Host, local.Cluster.Port
		o.Routes = nil
		for _, r := range local.Routes {
			r.User = url.UserPassword("route", routePassword)
			o.Routes = append(o.Routes, r)
		}
	})
	return lc
}

// startCalloutHub starts a hub with every service on the locked cluster,
// answering its auth callout.
func (lc *lockedCluster) startHub(t *testing.T, dir string) *testHub {
	return start(t, hub.Config{
		HTTP: "127.0.0.1:0", NATSURL: lc.URL, NATSUser: "crossdock", NATSPassword: lc.hubPassword,
		NATSCalloutIssuer: lc.issuerSeed, Accounts: filepath.Join(dir, "accounts.yaml"),
		Services: []string{"all"}, AdminToken: hubtest.AdminToken, Replicas: 3, Fsync: "interval",
	})
}

// refusals collects a connection's asynchronous errors (permission
// violations).
type refusals chan error

func (r refusals) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	select {
	case r <- err:
	default:
	}
}

// next waits for the next refusal naming subject.
func (r refusals) next(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-r:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Fatalf("no permissions violation for %s", subject)
		}
	}
}

// TestTheClusterAuthorizesClientsFromTheAccountsFile: on a cluster locked
// down as shipped, the hub answers the auth callout, and customers and
// warehouses get exactly their embedded permissions: their own subjects,
// nobody else's, no JetStream administration; the operator's admin token
// gets everything; a reloaded accounts file applies to the next connection
// without restarting nats-server.
func TestTheClusterAuthorizesClientsFromTheAccountsFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster; skipped with -short")
	}
	lc := runLockedCluster(t)
	dir := t.TempDir()
	hubtest.WriteAccounts(t, dir, nil)
	h := lc.startHub(t, dir)

	connect := func(t *testing.T, user, password string, r refusals) (*nats.Conn, error) {
		prefix := "_INBOX_" + user
		if strings.HasPrefix(user, "dc-") {
			prefix = "_INBOX_wh_" + user
		}
		opts := []nats.Option{nats.UserInfo(user, password), nats.CustomInboxPrefix(prefix), nats.MaxReconnects(0)}
		if r != nil {
			opts = append(opts, nats.ErrorHandler(r.handler))
		}
		nc, err := nats.Connect(lc.URL, opts...)
		if err == nil {
			t.Cleanup(nc.Close)
		}
		return nc, err
	}

	t.Run("a customer sends orders and reads its answers", func(t *testing.T) {
		nc, err := connect(t, "acme", hubtest.Key("acme"), nil)
		if err != nil {
			t.Fatal(err)
		}
		answers := bustest.Watch(t, nc, "xd.out.acme.>")
		if err := nc.Publish("xd.in.acme.order.placed", hubtest.OrderEvent("acme", "callout-1", hubtest.Order{PO: "CO-1", ShipTo: hubtest.DCEast, Units: []float64{1}})); err != nil {
			t.Fatal(err)
		}
		if ev := bustest.Next(t, answers, time.Minute); ev.Extensions()["causationid"] != "callout-1" {
			t.Errorf("acme got %s %v, want the answer to callout-1", ev.Type(), ev.Extensions())
		}
	})

	refused := []struct {
		name, user, op, subject string
	}{
		{name: "a customer may not publish as another account", user: "acme", op: "pub", subject: "xd.in.globex.order.placed"},
		{name: "a customer may not read another account's events", user: "acme", op: "sub", subject: "xd.out.globex.>"},
		{name: "a customer may not publish past the gateway", user: "acme", op: "pub", subject: "xd.routed.strategic.acme.order.placed"},
		{name: "a customer may not read the DLQ", user: "acme", op: "sub", subject: "xd.dlq.>"},
		{name: "a customer may not delete a stream", user: "acme", op: "pub", subject: "$JS.API.STREAM.DELETE.XD_IN"},
		{name: "a customer may not read JetStream's account info", user: "acme", op: "pub", subject: "$JS.API.INFO"},
		{name: "a warehouse may not read another warehouse's work", user: "dc-east", op: "sub", subject: "xd.wh.dc-west.>"},
		{name: "a warehouse may not publish as an account", user: "dc-east", op: "pub", subject: "xd.in.acme.order.placed"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := make(refusals, 16)
			nc, err := connect(t, tc.user, hubtest.Key(tc.user), r)
			if err != nil {
				t.Fatal(err)
			}
			if tc.op == "sub" {
				_, err = nc.SubscribeSync(tc.subject)
			} else {
				err = nc.Publish(tc.subject, []byte("{}"))
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = nc.Flush()
			r.next(t, tc.subject)
		})
	}

	t.Run("a wrong key is refused", func(t *testing.T) {
		if _, err := connect(t, "acme", "not-a-key", nil); !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connect with a wrong key: %v, want an authorization violation", err)
		}
	})

	t.Run("the operator's admin token administers JetStream", func(t *testing.T) {
		nc, err := nats.Connect(lc.URL, nats.Token(hubtest.AdminToken))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.Stream(context.Background(), "XD_DLQ"); err != nil {
			t.Errorf("the operator reads XD_DLQ's info: %v", err)
		}
	})

	t.Run("a reloaded accounts file applies to the next connection", func(t *testing.T) {
		path := filepath.Join(dir, "accounts.yaml")
		y, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		next := strings.Replace(string(y), accounts.HashKey(hubtest.Key("globex")), accounts.HashKey("key-globex-rotated"), 1)
		if err := os.WriteFile(path, []byte(next), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := h.proc.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		bustest.CheckFor(t, 10*time.Second, func() error {
			if _, err := connect(t, "globex", "key-globex-rotated", nil); err != nil {
				return fmt.Errorf("the rotated key: %w", err)
			}
			return nil
		})
		if _, err := connect(t, "globex", hubtest.Key("globex"), nil); !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("the retired key: %v, want an authorization violation", err)
		}
	})
}
