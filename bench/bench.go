package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/gateway"
)

// Config says what to measure. The zero value of each field has a default.
type Config struct {
	Scenario        string        // "throughput" (default) or "isolation"
	Transport       string        // "nats" (default) or "http"
	Rate            int           // orders per second in total; 0: as fast as the hub takes them
	FloodRate       int           // isolation: the stable flood's orders per second; 0: as fast as the hub takes them
	Duration        time.Duration // how long to send; default 10s
	Count           int           // stop after this many orders instead (throughput only)
	AccountsPerTier int           // default 4
	// Tiers are the tiers whose accounts send in the throughput scenario;
	// nil means all four.
	Tiers         []accounts.Tier
	Window        int           // most orders sent but not yet answered; default 2000
	Baseline      time.Duration // how long to publish the raw JetStream baseline; default 3s
	Floor         bool          // after the baseline, measure the floor (Report.Floor): how far the hub is from the best this server can do
	FloorDuration time.Duration // how long to run the floor; default 3s
	NATSURL       string        // run the hub on this NATS instead of an embedded server
	Replicas      int           // the hub's stream replicas (3 on a cluster); 0 means 1
	Dir           string        // data directory; default a fresh temp dir, removed after
	Progress      io.Writer     // a progress line every second; nil for none
	Log           *zap.Logger   // the hub's log; nil for none
	HeapProfile   io.Writer     // when set, a heap profile taken at the end of the load, with the hub still up
	Stages        bool          // read back where the strategic orders' time went (Report.Stages)
	BulkYield     float64       // the hub's --bulk-yield; 0: its default, negative: off
	BulkShare     float64       // the hub's --bulk-share; 0: its default
	BulkSlots     int           // the hub's --bulk-slots; 0: off
	BulkConn      bool          // the hub's --bulk-conn
}

func (c *Config) defaults() error {
	if c.Scenario == "" {
		c.Scenario = "throughput"
	}
	if c.Transport == "" {
		c.Transport = "nats"
	}
	if c.Scenario != "throughput" && c.Scenario != "isolation" {
		return fmt.Errorf("scenario %q: want throughput or isolation", c.Scenario)
	}
	if c.Transport != "nats" && c.Transport != "http" {
		return fmt.Errorf("transport %q: want nats or http", c.Transport)
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.AccountsPerTier <= 0 {
		c.AccountsPerTier = 4
	}
	if c.Window <= 0 {
		c.Window = 2000
	}
	if c.Baseline <= 0 {
		c.Baseline = 3 * time.Second
	}
	if c.FloorDuration <= 0 {
		c.FloorDuration = 3 * time.Second
	}
	if c.Scenario == "isolation" && c.Rate <= 0 {
		c.Rate = 200
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	return nil
}

// Report is what a run measured.
type Report struct {
	Scenario   string       `json:"scenario"`
	Transport  string       `json:"transport"`
	Machine    Machine      `json:"machine"`
	Seconds    float64      `json:"seconds"`
	Tiers      []TierReport `json:"tiers"`
	Total      TierReport   `json:"total"`
	Raw        Baseline     `json:"raw_jetstream"`
	Ratio      float64      `json:"ratio_to_raw"`    // total orders/s ÷ raw publishes/s
	Floor      *Floor       `json:"floor,omitempty"` // with Config.Floor
	CPUSeconds float64      `json:"cpu_seconds"`     // hub and load generator together
	PeakRSSMB  float64      `json:"peak_rss_mb"`
	// Load is the same during the load alone, without the baseline, the
	// floor and the warm-up before it.
	Load      LoadUsage  `json:"load"`
	Isolation *Isolation `json:"isolation,omitempty"`
	Stages    []Stage    `json:"stages,omitempty"` // with Config.Stages
	// SendErrors are orders the hub refused or did not answer at intake (a
	// failed publish or POST): they count as lost; FirstError says why.
	SendErrors int64  `json:"send_errors"`
	FirstError string `json:"first_error,omitempty"`
}

// TierReport is one tier's (or the total's) figures.
type TierReport struct {
	Tier         string    `json:"tier"`
	Sent         int64     `json:"sent"`
	Accepted     int64     `json:"accepted"`
	Rejected     int64     `json:"rejected"`
	Lost         int64     `json:"lost"` // sent minus answered: must be 0
	OrdersPerSec float64   `json:"orders_per_sec"`
	Latency      Latencies `json:"latency"` // publish to order.accepted
}

// Baseline is raw JetStream async publishing on the same server.
type Baseline struct {
	Messages    int     `json:"messages"`
	Bytes       int     `json:"message_bytes"`
	PublishRate float64 `json:"publishes_per_sec"`
}

// Isolation compares the strategic tier's latency alone and under a flood
// of stable orders.
type Isolation struct {
	StrategicRate int     `json:"strategic_rate"`
	FloodRate     int     `json:"flood_rate"` // what the flood asked for; 0: as fast as the hub takes it
	AloneP99      Millis  `json:"alone_p99_ms"`
	FloodP99      Millis  `json:"flood_p99_ms"`
	Factor        float64 `json:"factor"` // flood p99 ÷ alone p99
	FloodSent     int64   `json:"flood_sent"`
	FloodPerSec   float64 `json:"flood_orders_per_sec"`
}

// Machine describes where the figures came from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go"`
}

// Run starts a hub, measures, stops the hub and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "crossdock-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fleet, accountsFile, err := writeFleet(dir, cfg.AccountsPerTier)
	if err != nil {
		return nil, err
	}
	admin := randomToken()
	h, err := hub.Start(ctx, hub.Config{
		HTTP: "127.0.0.1:0", NATSListen: "127.0.0.1:0", NATSURL: cfg.NATSURL,
		Data: filepath.Join(dir, "data"), Accounts: accountsFile, Services: []string{"all"},
		AdminToken: admin, Replicas: max(cfg.Replicas, 1), Fsync: "interval", BulkYield: cfg.BulkYield, BulkShare: cfg.BulkShare,
		BulkSlots: cfg.BulkSlots, BulkConn: cfg.BulkConn,
		// A few accounts per tier take every sender's orders: each may
		// have as many requests at work as its lane has slots.
		AccountRequests: gateway.LaneRequests,
	}, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("start hub: %w", err)
	}
	defer func() {
		h.Stop()
		_ = h.Wait()
	}()

	r := &runner{cfg: cfg, fleet: fleet, admin: admin, natsURL: h.NATSURL(), httpBase: "http://" + h.HTTPAddr()}
	if cfg.NATSURL != "" {
		r.natsURL = cfg.NATSURL
	}
	if err := r.connect(); err != nil {
		return nil, err
	}
	defer r.close()

	rep := &Report{Scenario: cfg.Scenario, Transport: cfg.Transport, Machine: Machine{
		CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}}
	// The baseline and the floor run first, with the hub idle; the warm-up
	// after them lets the server settle before anything is measured.
	if rep.Raw, err = r.baseline(ctx, cfg.Baseline); err != nil {
		return nil, err
	}
	if cfg.Floor {
		f, err := r.floor(ctx, cfg.FloorDuration)
		if err != nil {
			return nil, err
		}
		if rep.Raw.PublishRate > 0 {
			f.Ratio = f.OrdersPerSec / rep.Raw.PublishRate
		}
		rep.Floor = &f
	}
	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}
	// The baseline's half a million messages (and the floor's) leave heap
	// behind that the runtime returns to the system only slowly: return it
	// now, so that the load's RSS is the load's.
	debug.FreeOSMemory()
	cpuBefore, _ := usage()
	rss := watchRSS(ctx)
	switch cfg.Scenario {
	case "throughput":
		tiers := accounts.Tiers
		if len(cfg.Tiers) > 0 {
			tiers = cfg.Tiers
		}
		start := time.Now()
		r.drive(ctx, r.accountsOf(tiers...), cfg.Rate, cfg.Duration, cfg.Count)
		r.drain(ctx, 30*time.Second)
		rep.Seconds = r.lastAnswer().Sub(start).Seconds()
		for _, t := range tiers {
			rep.Tiers = append(rep.Tiers, r.tierReport(string(t), rep.Seconds))
		}
		rep.Total = r.totalReport(rep.Seconds)
	case "isolation":
		iso, err := r.isolation(ctx)
		if err != nil {
			return nil, err
		}
		rep.Isolation = iso
		rep.Seconds = cfg.Duration.Seconds()
		rep.Tiers = append(rep.Tiers, r.tierReport(string(accounts.Strategic), rep.Seconds), r.tierReport(string(accounts.Stable), rep.Seconds))
		rep.Total = r.totalReport(rep.Seconds)
	}
	rep.Load.PeakRSSMB = rss()
	if cpu, _ := usage(); cpu > 0 {
		rep.Load.CPUSeconds = cpu - cpuBefore
	}
	if cfg.Stages {
		if rep.Stages, err = r.stages(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.HeapProfile != nil {
		runtime.GC() // up-to-date figures, as go tool pprof expects
		if err := pprof.WriteHeapProfile(cfg.HeapProfile); err != nil {
			return nil, fmt.Errorf("heap profile: %w", err)
		}
	}
	if rep.Raw.PublishRate > 0 {
		rep.Ratio = rep.Total.OrdersPerSec / rep.Raw.PublishRate
	}
	rep.CPUSeconds, rep.PeakRSSMB = usage()
	r.mu.Lock()
	rep.SendErrors, rep.FirstError = r.sendErrors, r.firstError
	r.mu.Unlock()
	return rep, nil
}

// LoadUsage is what the process used while the load ran.
type LoadUsage struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMB  float64 `json:"peak_rss_mb"` // sampled every 100 ms; 0 where /proc/self/statm is missing
}

// watchRSS samples the process's resident set every 100 ms until the
// returned func is called, which stops it and returns the peak in MB.
func watchRSS(ctx context.Context) (peakMB func() float64) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan float64, 1)
	go func() {
		peak := residentMB()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- max(peak, residentMB())
				return
			case <-t.C:
				peak = max(peak, residentMB())
			}
		}
	}()
	return func() float64 {
		cancel()
		return <-done
	}
}

// residentMB is the process's resident set now (Linux), or 0.
func residentMB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0
	}
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// usage is the process's CPU time and peak resident set size.
func usage() (cpuSeconds, peakRSSMB float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu.Seconds(), float64(ru.Maxrss) / 1024 // Linux reports KiB
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// account is one of the bench's own accounts.
type account struct {
	id, key string
	tier    accounts.Tier
	gln     string
	nc      *nats.Conn
	js      jetstream.JetStream
}

// writeFleet writes an accounts file with n accounts per tier, each with one
// DC; stable accounts take orders every day so that their orders are
// accepted, not held, and measured like the others.
func writeFleet(dir string, n int) ([]*account, string, error) {
	var fleet []*account
	var b bytes.Buffer
	b.WriteString("warehouses:\n  - id: bench-wh\naccounts:\n")
	loc := 0
	for _, t := range accounts.Tiers {
		for i := range n {
			loc++
			a := &account{id: fmt.Sprintf("bench-%s-%d", t, i), key: "bench-key-" + randomToken(), tier: t, gln: gln(loc)}
			fleet = append(fleet, a)
			fmt.Fprintf(&b, "  - id: %s\n    name: bench\n    tier: %s\n    api_keys: [%q]\n    locations: [{gln: %q, type: dc, warehouse: bench-wh}]\n",
				a.id, t, accounts.HashKey(a.key), a.gln)
			// The bench measures what the hub can take, not the tiers'
			// quotas (docs/security.md): its accounts have none.
			policy := "quota: {events_per_second: 0, bytes_per_second: 0, burst_seconds: 0}"
			if t == accounts.Stable {
				policy = "order_days: all, " + policy
			}
			fmt.Fprintf(&b, "    policy: {%s}\n", policy)
		}
	}
	path := filepath.Join(dir, "bench-accounts.yaml")
	return fleet, path, os.WriteFile(path, b.Bytes(), 0o600)
}

// gln makes a valid GLN for location number i (GS1 mod-10 check digit).
func gln(i int) string {
	return gs1.Complete(fmt.Sprintf("0614141%05d", i))
}

// runner holds a run's connections and the orders in flight.
type runner struct {
	cfg      Config
	fleet    []*account
	admin    string
	natsURL  string
	httpBase string
	observer *nats.Conn
	client   *http.Client

	seq     atomic.Int64
	mu      sync.Mutex
	pending map[string]sent
	// sendErrors counts orders the hub did not take (publish or POST
	// failed); firstError is the first such error.
	sendErrors int64
	firstError string
	stats      map[accounts.Tier]*tierStats
	last       time.Time
	// phase names the isolation phase orders are sent in; traced holds
	// the accepted strategic orders by id, with Config.Stages.
	phase  string
	traced map[string]*traced
}

type sent struct {
	tier   accounts.Tier
	phase  string
	at     time.Time
	window chan struct{} // the drive's window, freed by the answer
}

type tierStats struct {
	sent, accepted, rejected int64
	latencies                []time.Duration
}
