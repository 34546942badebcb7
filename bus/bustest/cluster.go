package bustest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a three-node JetStream cluster running in the test's process,
// on loopback ports, as production runs one on three machines.
type Cluster struct {
	Servers []*server.Server
	// URL lists every node's client URL, comma-separated, for nats.Connect.
	URL string
}

// RunCluster starts a three-node JetStream cluster and returns it once
// JetStream has a meta leader. configure, when not nil, adjusts each node's
// options (authorization, TLS) before it starts; node i is named n<i+1>.
// The nodes shut down when the test ends.
func RunCluster(t testing.TB, configure func(i int, o *server.Options)) *Cluster {
	t.Helper()
	routes := make([]int, 3)
	for i := range routes {
		routes[i] = freePort(t)
	}
	c := &Cluster{}
	var urls []string
	for i, port := range routes {
		var peers []*url.URL
		for j, p := range routes {
			if j != i {
				peers = append(peers, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			MaxPayload: 2 << 20,
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "crossdock-test", Host: "127.0.0.1", Port: port},
			Routes:     peers,
		}
		if configure != nil {
			configure(i, o)
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("node n%d: %v", i+1, err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node n%d not ready", i+1)
		}
		c.Servers = append(c.Servers, s)
		urls = append(urls, s.ClientURL())
	}
	c.URL = strings.Join(urls, ",")
	CheckFor(t, 30*time.Second, func() error {
		leader := false
		for _, s := range c.Servers {
			if !s.JetStreamIsCurrent() {
				return fmt.Errorf("node %s is not current with the JetStream meta leader", s.Name())
			}
			leader = leader || s.JetStreamIsLeader()
		}
		if !leader {
			return errors.New("no JetStream meta leader yet")
		}
		return nil
	})
	return c
}

// Account checks that JetStream answers an account's requests through
// conn options opts (the cluster's credentials).
func (c *Cluster) Account(t testing.TB, opts ...nats.Option) {
	t.Helper()
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	CheckFor(t, 30*time.Second, func() error {
		_, err := js.AccountInfo(context.Background())
		return err
	})
}

// Leader returns the node that leads stream's group, or nil if none does.
func (c *Cluster) Leader(account, stream string) *server.Server {
	for _, s := range c.Servers {
		if s.Running() && s.JetStreamIsStreamLeader(account, stream) {
			return s
		}
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
