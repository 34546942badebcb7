package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/ops"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Time
		ok   bool
	}{
		{name: "an RFC 3339 time is taken as it is", in: "2026-11-23T08:00:00Z", want: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), ok: true},
		{name: "a duration counts back from now", in: "24h", want: now.Add(-24 * time.Hour), ok: true},
		{name: "a date without a time is refused", in: "2026-11-23"},
		{name: "a negative duration is refused", in: "-1h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWhen(tc.in, now)
			if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
				t.Errorf("parseWhen(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestOperatorCommandsListShowAndRedriveDeadLetters(t *testing.T) {
	dir := t.TempDir()
	h, err := hub.Start(context.Background(), hub.Config{
		HTTP: "none", NATSListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Accounts: "../../deploy/accounts.example.yaml", Services: []string{"gateway", "router", "orders"},
		AdminToken: "op-token", Replicas: 1, Fsync: "interval",
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(); _ = h.Wait() })
	conn := []string{"--nats-url", h.NATSURL(), "--token", "op-token"}

	nc, err := nats.Connect(h.NATSURL(), nats.Token("op-token"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: "xd.in.acme.order.placed", Data: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	bustest.CheckFor(t, 10*time.Second, func() error {
		dls, err := ops.New(js, nil).List(context.Background(), ops.Filter{Account: "acme"})
		if err != nil || len(dls) == 0 {
			return bustest.ErrNotYet
		}
		seq = dls[0].Seq
		return nil
	})
	s := strconv.FormatUint(seq, 10)

	tests := []struct {
		name string
		args []string
		want string // in the output
		fail bool
	}{
		{name: "list shows the dead letter with its code", args: []string{"list", "--account", "acme"}, want: "invalid_json"},
		{name: "list as JSON names the original subject", args: []string{"list", "--json"}, want: `"original_subject":"xd.in.acme.order.placed"`},
		{name: "show prints the original body", args: []string{"show", s}, want: `"data": "not json"`},
		{name: "redrive republishes it to its subject", args: []string{"redrive", s}, want: s + " republished to xd.in.acme.order.placed"},
		{name: "a second redrive of the same entry fails", args: []string{"redrive", s}, fail: true},
		{name: "an unknown verb fails", args: []string{"purge"}, fail: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := dlq(append(tc.args, conn...), &out)
			if (err != nil) != tc.fail {
				t.Fatalf("dlq %v: %v, want failure=%v", tc.args, err, tc.fail)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("dlq %v printed %q, want it to contain %q", tc.args, out.String(), tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		token string
		want  string
	}{
		{"list without the token explains the admin token", "", "admin token"},
		{"list with a wrong token says the hub refused it", "not-the-token", "refused this token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			args := []string{"list", "--nats-url", h.NATSURL()}
			if tc.token != "" {
				args = append(args, "--token", tc.token)
			}
			err := dlq(args, new(bytes.Buffer))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--admin-token") {
				t.Errorf("dlq %v = %v, want an error that names %q and --admin-token", args, err, tc.want)
			}
			if err != nil && strings.Count(err.Error(), h.NATSURL()) != 1 {
				t.Errorf("dlq %v = %v, want the URL named once", args, err)
			}
		})
	}
}

func TestDLQHelpIsNotAFailure(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		var out bytes.Buffer
		if err := dlq([]string{arg}, &out); err != nil {
			t.Errorf("dlq %s = %v, want nil (the usage is the answer)", arg, err)
		}
		if !strings.Contains(out.String(), "crossdock dlq list") {
			t.Errorf("dlq %s printed %q, want the usage", arg, out.String())
		}
	}
}
