// Package bustest runs real embedded NATS servers for tests: JetStream in a
// temp dir, on a random port, shut down when the test ends.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/crossdock/crossdock/bus"
)

// RunServer starts an embedded nats-server with JetStream storing in dir
// (a fresh temp dir when empty) and a random client port.
func RunServer(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := bus.RunServer(bus.ServerConfig{Listen: "127.0.0.1:0", StoreDir: dir})
	if err != nil {
		t.Fatalf("run nats server: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Connect opens a connection to s, closed when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// New returns a Bus on s with the streams set up, logging to the test.
func New(t testing.TB, s *server.Server) *bus.Bus {
	t.Helper()
	b, err := bus.New(Connect(t, s), Logger(t), bus.Options{})
	if err != nil {
		t.Fatalf("bus: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Setup(ctx); err != nil {
		t.Fatalf("setup streams: %v", err)
	}
	return b
}

// Logger logs to the test at warn level and above, so failures show why.
func Logger(t testing.TB) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// CheckFor calls f until it returns nil or timeout passes, then fails the
// test with f's last error. It is the one way tests wait for something.
func CheckFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Watch subscribes to subject (core NATS, so it sees what is published from
// now on) and returns the decoded events as they arrive.
func Watch(t testing.TB, nc *nats.Conn, subject string) <-chan *event.Event {
	t.Helper()
	ch := make(chan *event.Event, 1024)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		ev, err := bus.Decode(m)
		if err != nil {
			t.Errorf("watch %s: %v", m.Subject, err)
			return
		}
		ch <- ev
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

// Next waits up to timeout for the next event on ch.
func Next(t testing.TB, ch <-chan *event.Event, timeout time.Duration) *event.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
		return nil
	}
}

// ErrNotYet is a convenience for CheckFor conditions.
var ErrNotYet = errors.New("not yet")

// Run runs a service (its Run method) until the test ends or the returned
// stop is called, then requires that it stopped cleanly. stop returns once
// the service has stopped; calling it again does nothing.
func Run(t testing.TB, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Count is the number of messages stored in stream on the subjects subject
// matches (wildcards allowed).
func Count(t testing.TB, b *bus.Bus, stream, subject string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s, subjects %s: %v", stream, subject, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// Settled waits until the durable consumer of stream has acknowledged at
// least acked messages and holds none pending or unacknowledged, and
// returns its info.
func Settled(t testing.TB, b *bus.Bus, stream, durable string, acked uint64) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	CheckFor(t, 30*time.Second, func() error {
		c, err := b.JetStream().Consumer(context.Background(), stream, durable)
		if err != nil {
			return err
		}
		if info, err = c.Info(context.Background()); err != nil {
			return err
		}
		if info.AckFloor.Consumer < acked || info.NumPending+uint64(info.NumAckPending) > 0 {
			return fmt.Errorf("consumer %s: acked %d of %d, %d pending, %d unacked", durable, info.AckFloor.Consumer, acked, info.NumPending, info.NumAckPending)
		}
		return nil
	})
	return info
}
