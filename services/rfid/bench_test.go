package rfid

import (
	"fmt"
	"testing"
	"time"

	"github.com/crossdock/crossdock/services/rfid/epc"
)

// BenchmarkDecodeDedupe measures the per-read work of the service's core: a
// batch of 1,000 reads of 50 tags is decoded, grouped by EPC and folded into
// each EPC's track (the KV round trips, two per EPC and batch, are measured
// end to end by the hub's BenchmarkRFIDEndToEnd). One op is one read.
func BenchmarkDecodeDedupe(b *testing.B) {
	const batch, tags = 1000, 50
	hexes := make([]string, tags)
	for i := range hexes {
		h, err := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(i)}.Hex()
		if err != nil {
			b.Fatal(err)
		}
		hexes[i] = h
	}
	tracks := map[string]*Track{}
	b.ReportAllocs()
	b.ResetTimer()
	reads := 0
	for round := 0; reads < b.N; round++ {
		base := t0.Add(time.Duration(round) * time.Second)
		times := map[string][]time.Time{}
		var order []string
		for i := 0; i < batch && reads < b.N; i++ {
			e, err := epc.Decode(hexes[i%tags])
			if err != nil {
				b.Fatal(err)
			}
			uri := e.URI()
			if _, ok := times[uri]; !ok {
				order = append(order, uri)
			}
			times[uri] = append(times[uri], base.Add(time.Duration(i)*time.Millisecond))
			reads++
		}
		for _, uri := range order {
			tracks[uri], _, _ = Step(tracks[uri], uri, dock, "r1", fmt.Sprint("batch-", round), times[uri], DefaultWindow)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
