package bus_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

func TestParseStreamLimits(t *testing.T) {
	tests := []struct {
		in   string
		want bus.StreamLimits
	}{
		{"", bus.StreamLimits{}},
		{"1GiB", bus.StreamLimits{Default: 1 << 30}},
		{"512 MiB", bus.StreamLimits{Default: 512 << 20}},
		{"2GB", bus.StreamLimits{Default: 2e9}},
		{"4096", bus.StreamLimits{Default: 4096}},
		{"unlimited", bus.StreamLimits{Default: bus.Unlimited}},
		{"0", bus.StreamLimits{Default: bus.Unlimited}},
		{"-1", bus.StreamLimits{Default: bus.Unlimited}},
		{"1GiB,XD_DLQ=4GiB", bus.StreamLimits{Default: 1 << 30, Streams: map[string]int64{"XD_DLQ": 4 << 30}}},
		{"xd_out = 2GiB, XD_RAW=unlimited", bus.StreamLimits{Streams: map[string]int64{"XD_OUT": 2 << 30, "XD_RAW": bus.Unlimited}}},
	}
	for _, tc := range tests {
		got, err := bus.ParseStreamLimits(tc.in)
		if err != nil {
			t.Errorf("ParseStreamLimits(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseStreamLimits(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		again, err := bus.ParseStreamLimits(got.String())
		if err != nil {
			t.Errorf("ParseStreamLimits(%q).String() = %q: %v", tc.in, got.String(), err)
		}
		for _, name := range []string{bus.StreamIn, bus.StreamRaw, bus.StreamRouted, bus.StreamOut, bus.StreamDLQ} {
			if again.MaxBytes(name) != got.MaxBytes(name) {
				t.Errorf("ParseStreamLimits(%q).String() = %q gives %s %d, want %d", tc.in, got.String(), name, again.MaxBytes(name), got.MaxBytes(name))
			}
		}
	}
	for _, bad := range []string{"1 GiBs", "lots", "XD_NOPE=1GiB", "1.5GiB", "9999999TiB"} {
		if _, err := bus.ParseStreamLimits(bad); err == nil {
			t.Errorf("ParseStreamLimits(%q) = nil error, want one", bad)
		}
	}
	if got := (bus.StreamLimits{}).String(); got != "1GiB,XD_OUT=4GiB" {
		t.Errorf("the default limits read %q, want 1GiB,XD_OUT=4GiB", got)
	}
}

// TestSetupStreamLimits: every stream gets its limit and discard policy; a
// process started with other limits changes them (also on streams that
// exist), but never to less than a stream that refuses new messages holds.
func TestSetupStreamLimits(t *testing.T) {
	s := bustest.RunServer(t, "")
	ctx := context.Background()
	setup := func(l bus.StreamLimits) (*bus.Bus, error) {
		b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{StreamLimits: l})
		if err != nil {
			t.Fatal(err)
		}
		return b, b.Setup(ctx)
	}
	check := func(b *bus.Bus, want map[string]int64) {
		t.Helper()
		for name, max := range want {
			st, err := b.JetStream().Stream(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := st.CachedInfo().Config
			discard := jetstream.DiscardNew
			if name == bus.StreamDLQ {
				discard = jetstream.DiscardOld
			}
			if cfg.MaxBytes != max || cfg.Discard != discard {
				t.Errorf("%s: MaxBytes %d, %s; want %d, %s", name, cfg.MaxBytes, cfg.Discard, max, discard)
			}
		}
	}

	b, err := setup(bus.StreamLimits{})
	if err != nil {
		t.Fatal(err)
	}
	check(b, map[string]int64{bus.StreamIn: 1 << 30, bus.StreamRaw: 1 << 30, bus.StreamRouted: 1 << 30, bus.StreamOut: 4 << 30, bus.StreamDLQ: 1 << 30})

	b, err = setup(bus.StreamLimits{Default: 64 << 10, Streams: map[string]int64{bus.StreamDLQ: 128 << 10, bus.StreamOut: bus.Unlimited}})
	if err != nil {
		t.Fatalf("a restart with new limits: %v", err)
	}
	check(b, map[string]int64{bus.StreamIn: 64 << 10, bus.StreamRaw: 64 << 10, bus.StreamRouted: 64 << 10, bus.StreamOut: -1, bus.StreamDLQ: 128 << 10})

	// XD_IN holds about 8 KiB; a limit of 4 KiB would make JetStream
	// delete the oldest of it.
	for i := range 8 {
		if _, err := b.JetStream().Publish(ctx, bus.IntakePrefix+"xd.in.acme.order.placed", []byte(strings.Repeat("x", 1<<10)),
			jetstream.WithMsgID(fmt.Sprint("acme:", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err = setup(bus.StreamLimits{Default: 64 << 10, Streams: map[string]int64{bus.StreamIn: 4 << 10}})
	if err == nil || !strings.Contains(err.Error(), bus.StreamIn) || !strings.Contains(err.Error(), "--stream-max-bytes") {
		t.Errorf("a limit below what XD_IN holds: %v, want an error naming XD_IN and --stream-max-bytes", err)
	}
	st, err := b.JetStream().Stream(ctx, bus.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 8 || info.Config.MaxBytes != 64<<10 {
		t.Errorf("XD_IN after the refused limit: %d messages, MaxBytes %d; want 8 and the old 64 KiB", info.State.Msgs, info.Config.MaxBytes)
	}
}

// fill stores messages of about size bytes on subject until the stream
// refuses one (bus.StreamFull), and returns how many it took.
func (h *hub) fill(t *testing.T, subject string, size int) int {
	t.Helper()
	for i := 0; ; i++ {
		_, err := h.js.Publish(context.Background(), subject, []byte(strings.Repeat("f", size)), jetstream.WithMsgID(fmt.Sprint("fill-", i)))
		if bus.StreamFull(err) {
			return i
		}
		if err != nil {
			t.Fatalf("fill %s: %v", subject, err)
		}
		if i > 10_000 {
			t.Fatalf("fill %s: still not full after %d messages", subject, i)
		}
	}
}

// streamBytes is what stream holds, and its limit.
func (h *hub) streamBytes(t *testing.T, stream string) (held uint64, max int64) {
	t.Helper()
	st, err := h.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Bytes, info.Config.MaxBytes
}

// TestConsumeDeadLettersWhenTheOutputStreamIsFull: a full XD_OUT refuses
// an order's answer; the order is retried with backoff, then dead-lettered
// (though its event.rejected cannot be stored either: before, it was then
// dropped, kept nowhere), the consumer goes on, and once the operator makes
// room the next order is answered.
func TestConsumeDeadLettersWhenTheOutputStreamIsFull(t *testing.T) {
	const limit = 8 << 10
	h := newHubWith(t, bus.Options{StreamLimits: bus.StreamLimits{Streams: map[string]int64{bus.StreamOut: limit}}})
	if n := h.fill(t, "xd.out.globex.filler", 1<<10); n == 0 {
		t.Fatal("XD_OUT took nothing")
	}
	var seen calls
	h.consume(t, config("orders"), func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
		seen.add(d)
		return accept(ctx, d)
	})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-1"))

	letter := h.last(t, bus.StreamDLQ, "xd.dlq.acme.processing_failed")
	if id := letter.Header.Get("ce-id"); id != "po-1" {
		t.Errorf("dead letter of %q, want po-1", id)
	}
	if !strings.Contains(letter.Header.Get(bus.HeaderDLQErrors), "maximum bytes exceeded") {
		t.Errorf("dead letter errors %s, want the full stream named", letter.Header.Get(bus.HeaderDLQErrors))
	}
	h.settled(t, "orders")
	if attempts, _ := seen.get(); len(attempts) != 3 {
		t.Errorf("handler saw attempts %v, want 3 (MaxDeliver), retried not spun", attempts)
	}
	if held, max := h.streamBytes(t, bus.StreamOut); held > uint64(max) {
		t.Errorf("XD_OUT holds %d bytes, over its limit of %d", held, max)
	}

	out, err := h.js.Stream(context.Background(), bus.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Purge(context.Background(), jetstream.WithPurgeSubject("xd.out.globex.filler")); err != nil {
		t.Fatal(err)
	}
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-2"))
	if ev := decode(t, h.last(t, bus.StreamOut, "xd.out.acme.order.accepted")); bus.Extension(ev, bus.ExtCausationID) != "po-2" {
		t.Errorf("order.accepted answers %q, want po-2", bus.Extension(ev, bus.ExtCausationID))
	}
}

// TestAFullDLQDropsItsOldestLetters: a flood of bad events fills XD_DLQ to
// its limit and no further; every event is settled (none waits on a
// refused letter) and the newest letters are kept.
func TestAFullDLQDropsItsOldestLetters(t *testing.T) {
	const limit = 16 << 10
	h := newHubWith(t, bus.Options{StreamLimits: bus.StreamLimits{Streams: map[string]int64{bus.StreamDLQ: limit}}})
	cfg := config("orders")
	cfg.Workers = 1
	h.consume(t, cfg, func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
		return nil, bus.Reject(bus.CodeSchemaViolation, "lines: missing", "lines")
	})
	const n = 40
	for i := range n {
		h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, fmt.Sprint("po-", i)))
	}
	h.settled(t, "orders")
	if got := h.count(t, bus.StreamOut, "xd.out.acme.event.rejected"); got != n {
		t.Errorf("%d event.rejected answers, want %d", got, n)
	}
	held, _ := h.streamBytes(t, bus.StreamDLQ)
	if held > limit {
		t.Errorf("XD_DLQ holds %d bytes, over its limit of %d", held, limit)
	}
	if kept := h.count(t, bus.StreamDLQ, ">"); kept == 0 || kept == n {
		t.Errorf("XD_DLQ keeps %d of %d letters, want some (the newest), not all", kept, n)
	}
	if id := h.last(t, bus.StreamDLQ, "xd.dlq.acme.schema_violation").Header.Get("ce-id"); id != fmt.Sprint("po-", n-1) {
		t.Errorf("the last letter is of %s, want the newest event po-%d", id, n-1)
	}
	_, err := h.js.Publish(context.Background(), "xd.dlq.acme.schema_violation", []byte("one more"))
	if err != nil {
		t.Errorf("a letter to the full DLQ: %v, want stored (DiscardOld)", err)
	}
}

// TestStreamUsageMetrics: /metrics shows what each stream holds against
// its limit, so that a stream filling up is seen before it refuses.
func TestStreamUsageMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHubWith(t, bus.Options{Metrics: reg, StreamLimits: bus.StreamLimits{Streams: map[string]int64{bus.StreamIn: 64 << 10, bus.StreamOut: bus.Unlimited}}})
	h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, "po-1"))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "stream" {
					got[f.GetName()+" "+l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if got["crossdock_stream_max_bytes XD_IN"] != 64<<10 || got["crossdock_stream_max_bytes XD_OUT"] != -1 || got["crossdock_stream_max_bytes XD_DLQ"] != 1<<30 {
		t.Errorf("crossdock_stream_max_bytes: %v, want XD_IN 65536, XD_OUT -1, XD_DLQ 1 GiB", got)
	}
	if held, _ := h.streamBytes(t, bus.StreamIn); got["crossdock_stream_bytes XD_IN"] != float64(held) || held == 0 {
		t.Errorf("crossdock_stream_bytes XD_IN = %v, want the %d bytes it holds", got["crossdock_stream_bytes XD_IN"], held)
	}
}

// TestSetupSaysWhenTheLimitsDoNotFitTheDisk: JetStream reserves each
// stream's limit on the server; a server with less storage than the limits
// add up to refuses the streams, and Setup names the flag to change.
func TestSetupSaysWhenTheLimitsDoNotFitTheDisk(t *testing.T) {
	s, err := server.NewServer(&server.Options{Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		JetStreamMaxStore: 2 << 30, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	b, err := bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Setup(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--stream-max-bytes") || !strings.Contains(err.Error(), "insufficient storage") {
		t.Errorf("Setup with 8 GiB of limits on 2 GiB of storage: %v, want the server's refusal and the flag named", err)
	}
	// Lower limits fit, also over the streams the first try made; and they
	// keep fitting at the next start, though they reserve all but a little
	// of the storage (a create of an existing stream is checked as a new
	// one by the server).
	for range 2 {
		b, err = bus.New(bustest.Connect(t, s), bustest.Logger(t), bus.Options{StreamLimits: bus.StreamLimits{Default: 400 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Setup(context.Background()); err != nil {
			t.Errorf("Setup with 5 x 400 MiB on 2 GiB: %v", err)
		}
	}
}

func TestFitDefaults(t *testing.T) {
	if l, fitted := bus.FitDefaults(100 << 30); fitted || !l.IsZero() {
		t.Errorf("100 GiB of storage: %v %v, want the defaults", l, fitted)
	}
	if l, fitted := bus.FitDefaults(0); fitted || !l.IsZero() {
		t.Errorf("unknown storage: %v %v, want the defaults", l, fitted)
	}
	l, fitted := bus.FitDefaults(2 << 30)
	if !fitted {
		t.Fatal("2 GiB of storage: the 8 GiB of defaults kept")
	}
	var total int64
	for _, s := range []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut, bus.StreamDLQ, bus.StreamRaw} {
		total += l.MaxBytes(s)
	}
	if total > 1<<30 {
		t.Errorf("fitted limits add up to %d, want at most half of 2 GiB", total)
	}
	if out, in := l.MaxBytes(bus.StreamOut), l.MaxBytes(bus.StreamIn); out != 4*in {
		t.Errorf("XD_OUT %d, XD_IN %d: want the defaults' proportion kept", out, in)
	}
	tiny, _ := bus.FitDefaults(4 << 20)
	if tiny.MaxBytes(bus.StreamIn) != 1<<20 {
		t.Errorf("4 MiB of storage: XD_IN %d, want the 1 MiB floor", tiny.MaxBytes(bus.StreamIn))
	}
}
