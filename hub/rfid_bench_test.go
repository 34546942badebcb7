package hub

import (
	"encoding/json"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

var rfidBatch = flag.Int("rfid.batch", 1000, "reads per rfid.observed batch in BenchmarkRFIDEndToEnd")

// BenchmarkRFIDEndToEnd measures reads per second from
// xd.in.<account>.rfid.observed (published by the account over NATS, as a
// reader's middleware would) to EPCIS events stored in XD_OUT: router checks
// (schema validation of every read), the rfid service's decode, dedupe, KV
// tracks and publishing. One op is one read; batches of -rfid.batch reads
// of 50 tags, each batch a new read storm (50 observations). Run with e.g.
// go test ./hub -run XXX -bench RFIDEndToEnd -benchtime 200000x.
func BenchmarkRFIDEndToEnd(b *testing.B) {
	h := startHub(b, b.TempDir())
	nc := h.connect("acme")
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		b.Fatal(err)
	}
	const tags = 50
	per := *rfidBatch
	batches := (b.N + per - 1) / per
	start := time.Now().UTC()
	msgs := make([]*event.Event, batches)
	for i := range msgs {
		rs := make([]rfidRead, per)
		base := start.Add(time.Duration(i) * time.Minute) // each batch outside the last one's window
		for j := range rs {
			rs[j] = rfidRead{EPC: tag(j % tags), Time: base.Add(time.Duration(j) * time.Millisecond)}
		}
		ev := event.New()
		ev.SetID(fmt.Sprintf("bench-%d", i))
		ev.SetSource("/accounts/acme")
		ev.SetType("crossdock.rfid.observed.v1")
		data, _ := json.Marshal(map[string]any{"reader": "bench", "read_point": acmeDock, "reads": rs})
		_ = ev.SetData(event.ApplicationJSON, data)
		msgs[i] = &ev
	}
	b.ResetTimer()
	for _, ev := range msgs {
		if _, err := js.PublishMsgAsync(bus.Encode("xd.in.acme.rfid.observed", ev), jetstream.WithMsgID("acme:"+ev.ID())); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged within a minute")
	}
	h.waitConsumer(b, "rfid-priority", uint64(batches))
	b.StopTimer()
	reads := batches * per
	b.ReportMetric(float64(reads)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(batches)/b.Elapsed().Seconds(), "batches/s")
	if n := h.count(bus.StreamOut, "xd.out.acme.epcis.captured"); n != uint64(batches) {
		b.Errorf("%d EPCIS events, want %d", n, batches)
	}
}
