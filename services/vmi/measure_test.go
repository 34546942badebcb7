package vmi

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

// Flags of BenchmarkScheduledRun, a measurement (it asserts nothing about
// time):
//
//	go test ./services/vmi -run '^$' -bench ScheduledRun -benchtime 1x -vmi.positions=1000000
var (
	measurePositions = flag.Int("vmi.positions", 10000, "positions of one account for BenchmarkScheduledRun")
	measureRate      = flag.Int("vmi.rate", 0, "Config.RunRate for BenchmarkScheduledRun (0: no cap)")
	measureWorkers   = flag.Int("vmi.workers", 0, "Config.RunWorkers for BenchmarkScheduledRun (0: the default)")
)

// BenchmarkScheduledRun seeds one integrated account with -vmi.positions
// positions (a tenth below their reorder point), runs its scheduled
// evaluation while a strategic account's reports flow through the priority
// lane at 50 per second, and logs the run's time and memory and the priority
// lane's latency (report published → position written) before and during
// the run. Every iteration after the first evaluates the same positions
// again under a new run id (their replenishments are then open, so it
// requests nothing); run it with -benchtime 1x for the figures of one run.
func BenchmarkScheduledRun(b *testing.B) {
	n := max(*measurePositions, 1)
	const items = 1000
	locations := (n + items - 1) / items
	tb := newTestBed(b, locations)
	morning := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC) // before the cutoff: no automatic run
	s := tb.service(b, morning)
	s.cfg.RunRate = *measureRate
	if *measureWorkers > 0 {
		s.cfg.RunWorkers = *measureWorkers
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	needing := 0
	for l := 0; l < locations; l++ {
		k := min(items, n-l*items)
		needing += seedAt(b, tb.bus, l, k)
	}
	b.Logf("seeded %d positions (%d need replenishment) in %s", n, needing, time.Since(start).Round(time.Millisecond))

	// The probe: strategic reports, each naming a new item, timed from the
	// publish ack to the watch seeing the position written.
	w, err := s.kv.WatchFiltered(ctx, []string{"pos.fast.>"}, jetstream.UpdatesOnly())
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var phase atomic.Int32 // 0 before, 1 during the run, 2 after
	lats := [3][]time.Duration{}
	go func() {
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			mu.Lock()
			if at, ok := sent[e.Key()]; ok {
				d := time.Since(at)
				p := phase.Load()
				lats[p] = append(lats[p], d)
				delete(sent, e.Key())
			}
			mu.Unlock()
		}
	}()
	probeDone := make(chan struct{})
	stopProbe := make(chan struct{})
	go func() {
		defer close(probeDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopProbe:
				return
			case <-tick.C:
			}
			gln, gtin := testGLN(999999), testGTIN(500000+i)
			ev, err := bus.NewRootEvent(fmt.Sprintf("probe-%d", i), typeReported, "/accounts/fast", "fast",
				map[string]any{"location": gln, "as_of": morning.Format(time.RFC3339), "items": []map[string]any{{"gtin": gtin, "on_hand": 3}}})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			sent[posKey("fast", gln, gtin)] = time.Now()
			mu.Unlock()
			if _, err := tb.bus.Publish(ctx, bus.Outgoing{Subject: "xd.routed.strategic.fast.inventory.reported", Event: ev}); err != nil && ctx.Err() == nil {
				b.Error(err)
				return
			}
		}
	}()
	time.Sleep(3 * time.Second) // baseline of the probe, a measurement window rather than a wait for an event

	var peak atomic.Uint64
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stopSample:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	phase.Store(1)
	b.ResetTimer()
	res, err := s.RunAccount(ctx, "big", "measure")
	for i := 1; i < b.N && err == nil; i++ {
		_, err = s.RunAccount(ctx, "big", fmt.Sprintf("measure-%d", i))
	}
	b.StopTimer()
	phase.Store(2)
	runtime.ReadMemStats(&after)
	close(stopSample)
	<-sampled
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // after-run window of the probe
	close(stopProbe)
	<-probeDone

	b.Logf("run workers %d, rate cap %d/s", s.cfg.RunWorkers, s.cfg.RunRate)
	b.Logf("run: %d evaluated, %d requested, %d open, %d failed in %d ms (%.0f positions/s)",
		res.Evaluated, res.Requested, res.Open, res.Failed, res.Millis, float64(res.Evaluated)/(float64(res.Millis)/1000))
	b.Logf("memory (process, embedded NATS server included): allocated %d MiB in %d allocations during the run; heap in use %d MiB before, peak %d MiB",
		(after.TotalAlloc-before.TotalAlloc)>>20, after.Mallocs-before.Mallocs, before.HeapInuse>>20, peak.Load()>>20)
	mu.Lock()
	defer mu.Unlock()
	for i, name := range []string{"before the run", "during the run", "after the run"} {
		l := slices.Clone(lats[i])
		slices.Sort(l)
		if len(l) == 0 {
			b.Logf("priority lane %s: no samples", name)
			continue
		}
		q := func(f float64) time.Duration {
			return l[min(len(l)-1, int(f*float64(len(l))))].Round(10 * time.Microsecond)
		}
		b.Logf("priority lane %s: %d reports, p50 %s, p99 %s, max %s", name, len(l), q(0.5), q(0.99), l[len(l)-1].Round(10*time.Microsecond))
	}
	b.ReportMetric(float64(res.Evaluated)/(float64(res.Millis)/1000), "positions/s")
	b.ReportMetric(float64(peak.Load()>>20), "peak-heap-MiB")
	if res.Requested != int64(needing) || res.Failed != 0 {
		b.Errorf("first run requested %d (failed %d), want %d", res.Requested, res.Failed, needing)
	}
}
