package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// TestSetupDuplicateWindow: the streams get the default window, and a
// process started with another changes them to it (Setup updates).
func TestSetupDuplicateWindow(t *testing.T) {
	s := bustest.RunServer(t, "")
	ctx := context.Background()
	for _, c := range []struct {
		set, want time.Duration
	}{{0, bus.DuplicateWindow}, {3 * time.Minute, 3 * time.Minute}} {
		b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{DuplicateWindow: c.set})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut} {
			st, err := b.JetStream().Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.CachedInfo().Config.Duplicates; got != c.want {
				t.Errorf("option %s: %s duplicate window %s, want %s", c.set, name, got, c.want)
			}
		}
	}
}

// TestDialEmbedded: an embedded server with a client port is dialled over
// loopback TCP, whatever address it listens on (the in-process pipe is
// slower); one without a port, in-process.
func TestDialEmbedded(t *testing.T) {
	for _, tc := range []struct {
		name, listen, want string
	}{
		{"a loopback port is dialled there", "127.0.0.1:0", "127.0.0.1:"},
		{"a port on every IPv4 address is dialled on the loopback", "0.0.0.0:0", "127.0.0.1:"},
		{"a port on every address is dialled on the loopback", "[::]:0", "127.0.0.1:"},
		{"no port is dialled in-process", "none", "pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := bus.RunServer(bus.ServerConfig{Listen: tc.listen, StoreDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Shutdown)
			nc, err := bus.Dial("", s, "test", bus.Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			got := nc.ConnectedAddr()
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("Dial(%s) connected to %q, want %q…", tc.listen, got, tc.want)
			}
			if err := nc.Flush(); err != nil {
				t.Errorf("Dial(%s): flush: %v", tc.listen, err)
			}
		})
	}
}

func TestRedactURLWithholdsUserInformation(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "a URL without user information is kept", in: "nats://n1:4222", want: "nats://n1:4222"},
		{name: "a user and a password are withheld", in: "nats://hub:s3cret@n1:4222", want: "nats://REDACTED@n1:4222"},
		{name: "a token is withheld", in: "tls://t0ken@n1:4222", want: "tls://REDACTED@n1:4222"},
		{name: "each URL of a list is redacted", in: "nats://a:b@n1:4222, nats://n2:4222,nats://c:d@n3:4222", want: "nats://REDACTED@n1:4222,nats://n2:4222,nats://REDACTED@n3:4222"},
		{name: "a URL that does not parse is withheld whole", in: "nats://a:b%zz@n1:4222", want: "(a URL that does not parse, withheld)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bus.RedactURL(tc.in); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
