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
	"github.com/crossdock/crossdock/bus/bustest"
)

var rfidBatch = flag.Int("rfid.batch", 250, "reads per rfid.observed batch in BenchmarkRFIDEndToEnd")

// The storm mix of BenchmarkRFIDEndToEnd: a dock door where rfidPresent tags
// stand at any time, rfidArrive of them replaced by new ones each second.
const (
	rfidPresent = 100
	rfidArrive  = 10
)

// BenchmarkRFIDEndToEnd measures reads per second from
// xd.in.<account>.rfid.observed (published by the account over NATS, as a
// reader's middleware would) to EPCIS events stored in XD_OUT: router checks
// (schema validation of every read), the rfid service's decode, dedupe, KV
// tracks and publishing, in the router's lane (fused lanes). One op is one read. Each batch is one second of a
// reader at a dock door, -rfid.batch reads (readers send 100-500) of the
// rfidPresent tags standing there; each second rfidArrive tags leave and as
// many arrive. A tag stays 10 s, so with the 5 s default window it is
// observed twice: per batch about 20 of the 100 tags are new observations
// (a KV write each), the other 80 are read storm repeats (a KV read each),
// and 92% of the reads are repeats. Run with e.g.
// go test ./hub -run XXX -bench RFIDEndToEnd -benchtime 100000x.
func BenchmarkRFIDEndToEnd(b *testing.B) {
	h := startHub(b, b.TempDir())
	nc := h.connect("acme")
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		b.Fatal(err)
	}
	per := *rfidBatch
	batches := (b.N + per - 1) / per
	start := time.Now().UTC()
	msgs := make([]*event.Event, batches)
	for i := range msgs {
		rs := make([]rfidRead, per)
		base := start.Add(time.Duration(i) * time.Second)
		for j := range rs {
			rs[j] = rfidRead{EPC: tag(i*rfidArrive + j%rfidPresent), Time: base.Add(time.Duration(j) * time.Second / time.Duration(per))}
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
		if _, err := js.PublishMsgAsync(bus.Encode("xd.in.acme.rfid.observed", ev), jetstream.WithMsgID("acme:"+ev.ID()), jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged within a minute")
	}
	// Every batch handled: the router's lane hands each to the rfid
	// service of its process and acknowledges it once the service's
	// writes and events are stored. (Workers take batches out of order,
	// and a batch handled after a later one may find its arrivals already
	// observed, so EPCIS events are not one per batch.)
	bustest.Settled(b, h.bus, bus.StreamIn, "router-priority", uint64(batches))
	b.StopTimer()
	reads := batches * per
	b.ReportMetric(float64(reads)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(batches)/b.Elapsed().Seconds(), "batches/s")
	if n := h.count(bus.StreamDLQ, ">"); n != 0 {
		b.Errorf("%d dead letters", n)
	}
}
