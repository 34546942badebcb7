package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crossdock/crossdock/bench"
	"github.com/crossdock/crossdock/services/accounts"
)

// runBench is `crossdock bench`: measure a hub end to end (docs/performance.md).
func runBench(args []string) error {
	fs := flag.NewFlagSet("crossdock bench", flag.ContinueOnError)
	var cfg bench.Config
	var asJSON bool
	fs.StringVar(&cfg.Scenario, "scenario", "throughput", "throughput, or isolation (strategic at --rate while stable floods)")
	fs.StringVar(&cfg.Transport, "transport", "nats", "send orders over nats or http")
	fs.IntVar(&cfg.Rate, "rate", 0, "orders per second (0: as fast as the hub takes them; isolation: the strategic rate, default 200)")
	fs.IntVar(&cfg.FloodRate, "flood-rate", 0, "isolation: the stable flood's orders per second (0: as fast as the hub takes them)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to send (default 10s)")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many orders (throughput)")
	fs.IntVar(&cfg.AccountsPerTier, "accounts-per-tier", 0, "bench accounts per tier (default 4)")
	fs.Func("tiers", "throughput: comma list of the tiers whose accounts send (default all four)", func(v string) error {
		for _, t := range strings.Split(v, ",") {
			if !accounts.Tier(t).Valid() {
				return fmt.Errorf("unknown tier %q", t)
			}
			cfg.Tiers = append(cfg.Tiers, accounts.Tier(t))
		}
		return nil
	})
	fs.IntVar(&cfg.Window, "window", 0, "most orders sent but not yet answered (default 2000)")
	fs.DurationVar(&cfg.Baseline, "baseline", 0, "how long to publish the raw JetStream baseline, before the load (default 3s)")
	fs.BoolVar(&cfg.Floor, "floor", true, "before the load, run the hub's JetStream work per order (4 writes, 1 delivery) with no hub code on scratch streams, "+
		"to report how far the hub is from the best this server can do; on by default because it costs only about --floor-duration and a second")
	fs.DurationVar(&cfg.FloorDuration, "floor-duration", 0, "how long to run the floor (default 3s)")
	fs.BoolVar(&cfg.Stages, "stages", false, "after the run, read back from the streams where the strategic orders' time went, stage by stage")
	fs.Float64Var(&cfg.BulkYield, "bulk-yield", 0, "the hub's --bulk-yield (0: its default; negative: off)")
	fs.Float64Var(&cfg.BulkShare, "bulk-share", 0, "the hub's --bulk-share (0: its default)")
	fs.IntVar(&cfg.BulkSlots, "bulk-slots", 0, "the hub's --bulk-slots (0: off)")
	fs.BoolVar(&cfg.BulkConn, "bulk-conn", false, "the hub's --bulk-conn")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "run the hub against this NATS instead of an embedded server")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "the hub's stream replicas (3 against a three-node cluster)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	logLevel := fs.String("log-level", "", "show the hub's log at this level (debug, info, warn, error) on stderr; empty: none")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (hub and load generator) to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile taken at the end of the load, hub still up, to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.HeapProfile = f
	}
	cfg.Progress = os.Stderr
	if *logLevel != "" {
		lvl, err := zapcore.ParseLevel(*logLevel)
		if err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		zc := zap.NewDevelopmentConfig()
		zc.Level = zap.NewAtomicLevelAt(lvl)
		log, err := zc.Build()
		if err != nil {
			return err
		}
		defer func() { _ = log.Sync() }()
		cfg.Log = log
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(os.Stdout, rep)
	return nil
}

func printReport(out io.Writer, r *bench.Report) {
	fmt.Fprintf(out, "crossdock bench: %s over %s, %.1fs, %d CPUs, %s\n\n", r.Scenario, r.Transport, r.Seconds, r.Machine.CPUs, r.Machine.GoVersion)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "tier\tsent\taccepted\trejected\tlost\torders/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, t := range append(r.Tiers, r.Total) {
		l := t.Latency
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			t.Tier, t.Sent, t.Accepted, t.Rejected, t.Lost, t.OrdersPerSec, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	_ = w.Flush()
	fmt.Fprintf(out, "\nraw JetStream async publish of an order message (%d B of data, same headers), %d in %.1fs: %.0f msgs/s; end-to-end / raw = %.3f\n", r.Raw.Bytes, r.Raw.Messages, float64(r.Raw.Messages)/r.Raw.PublishRate, r.Raw.PublishRate, r.Ratio)
	if f := r.Floor; f != nil {
		fmt.Fprintf(out, "floor: the hub's JetStream work per order (writes %d, deliveries %d) with no hub code, pipelined, %d orders: %.0f orders/s (%.3f of raw)",
			f.Writes, f.Deliveries, f.Orders, f.OrdersPerSec, f.Ratio)
		// The isolation scenario paces its orders: its rate is no reach.
		if r.Scenario == "throughput" && f.OrdersPerSec > 0 {
			fmt.Fprintf(out, "; the hub's %.0f orders/s is %.0f%% of it", r.Total.OrdersPerSec, 100*r.Total.OrdersPerSec/f.OrdersPerSec)
		}
		fmt.Fprintln(out)
	}
	if i := r.Isolation; i != nil {
		fmt.Fprintf(out, "isolation: strategic at %d/s p99 %.2f ms alone, %.2f ms under a stable flood of %.0f orders/s (x%.2f)\n",
			i.StrategicRate, i.AloneP99, i.FloodP99, i.FloodPerSec, i.Factor)
	}
	if len(r.Stages) > 0 {
		fmt.Fprintln(out, "\nstrategic orders, stage by stage (JetStream's stored times):")
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "phase	from	to	orders	p50 ms	p90 ms	p99 ms	p99.9 ms	max ms	")
		for _, s := range r.Stages {
			l := s.Latency
			fmt.Fprintf(w, "%s	%s	%s	%d	%.2f	%.2f	%.2f	%.2f	%.2f	\n", s.Phase, s.From, s.To, s.Orders, l.P50, l.P90, l.P99, l.P999, l.Max)
		}
		_ = w.Flush()
	}
	if r.SendErrors > 0 {
		fmt.Fprintf(out, "send errors: %d orders not taken at intake (counted as lost); first: %s\n", r.SendErrors, r.FirstError)
	}
	fmt.Fprintf(out, "process: %.1f s CPU, peak RSS %.0f MB (hub and load generator together); during the load alone: %.1f s CPU, peak RSS %.0f MB\n",
		r.CPUSeconds, r.PeakRSSMB, r.Load.CPUSeconds, r.Load.PeakRSSMB)
}
