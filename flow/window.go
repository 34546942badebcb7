package flow

import (
	"math"
	"sync"
	"time"
)

// rateSeconds is how many seconds of per-second counts a series keeps: the
// console's charts show the last five minutes.
const rateSeconds = 300

// series counts events per second over the last rateSeconds seconds, in a
// ring indexed by Unix second.
type series struct {
	sec   [rateSeconds]int64 // the Unix second each slot counts
	count [rateSeconds]float64
	total float64 // since start, for the Prometheus counter
}

func (s *series) add(at time.Time, n float64) {
	u := at.Unix()
	i := int(u % rateSeconds)
	if s.sec[i] != u {
		s.sec[i], s.count[i] = u, 0
	}
	s.count[i] += n
	s.total += n
}

// last returns the counts of the n whole seconds before now, oldest first.
func (s *series) last(now time.Time, n int) []float64 {
	out := make([]float64, n)
	end := now.Unix() // the current second is still filling: not shown
	for k := range n {
		u := end - int64(n-k)
		if i := int(u % rateSeconds); s.sec[i] == u {
			out[k] = s.count[i]
		}
	}
	return out
}

// rate is the mean events per second over the last 10 whole seconds.
func (s *series) rate(now time.Time) float64 {
	sum := 0.0
	for _, c := range s.last(now, 10) {
		sum += c
	}
	return sum / 10
}

// Latency histograms: buckets grow by 10% from 100 µs, so a quantile read
// from them is within 10% of the true value, up to about five days
// (100 µs × 1.1^260); anything longer lands in the last bucket.
const (
	bucketBase   = 100 * time.Microsecond
	bucketGrowth = 1.1
	buckets      = 261
)

var logGrowth = math.Log(bucketGrowth)

// bucketOf is the histogram bucket of a latency: bucket i holds latencies up
// to bucketBase × growth^i.
func bucketOf(d time.Duration) int {
	if d <= bucketBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(bucketBase)) / logGrowth))
	return min(i, buckets-1)
}

// bucketBound is the upper bound of bucket i.
func bucketBound(i int) time.Duration {
	return time.Duration(float64(bucketBase) * math.Pow(bucketGrowth, float64(i)))
}

// Minutes of history kept: latency quantiles over 60 minutes, SLO counts
// over 6 hours (the longest burn-rate window).
const (
	histMinutes  = 60
	countMinutes = 360
)

// minuteHist is one minute's latencies of one tier.
type minuteHist struct {
	minute int64
	n      [buckets]uint32
}

// minuteCount is one minute's SLO events of one tier: how many orders were
// answered (or found unanswered), and how many of those late.
type minuteCount struct {
	minute      int64
	total, late uint64
}

// latencies is one tier's intake → decision latencies: a ring of
// per-minute histograms (for quantiles) and of per-minute counts against the
// tier's objective (for burn rates). Memory is fixed whatever the rate:
// about 60 KiB of histograms and 8 KiB of counts per tier.
type latencies struct {
	mu     sync.Mutex
	hist   [histMinutes]minuteHist
	counts [countMinutes]minuteCount
}

// observe records one decided order: when it was decided, how long after
// its intake, and whether that was later than the objective's bound
// (within <= 0: no objective, never late).
func (l *latencies) observe(at time.Time, d, within time.Duration) {
	m := at.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	h := &l.hist[m%histMinutes]
	if h.minute != m {
		*h = minuteHist{minute: m}
	}
	h.n[bucketOf(d)]++
	c := &l.counts[m%countMinutes]
	if c.minute != m {
		*c = minuteCount{minute: m}
	}
	c.total++
	if within > 0 && d > within {
		c.late++
	}
}

// miss records, at `at`, an order that had no decision at all: late for
// the objective, with no latency to put in the histograms.
func (l *latencies) miss(at time.Time) {
	m := at.Unix() / 60
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &l.counts[m%countMinutes]
	if c.minute != m {
		*c = minuteCount{minute: m}
	}
	c.total++
	c.late++
}

// quantiles returns the qs quantiles of the latencies of the last minutes
// minutes (the current one included) and how many there were; zero
// durations when there were none.
func (l *latencies) quantiles(now time.Time, minutes int, qs ...float64) ([]time.Duration, uint64) {
	var merged [buckets]uint64
	var n uint64
	m := now.Unix() / 60
	l.mu.Lock()
	for k := range int64(min(minutes, histMinutes)) {
		h := &l.hist[(m-k)%histMinutes]
		if h.minute != m-k {
			continue
		}
		for i, c := range h.n {
			merged[i] += uint64(c)
			n += uint64(c)
		}
	}
	l.mu.Unlock()
	out := make([]time.Duration, len(qs))
	if n == 0 {
		return out, 0
	}
	for j, q := range qs {
		rank := uint64(math.Ceil(q * float64(n)))
		var cum uint64
		for i, c := range merged {
			cum += c
			if cum >= rank {
				out[j] = bucketBound(i)
				break
			}
		}
	}
	return out, n
}

// errorRate returns the share of late orders over the last window and how
// many orders there were.
func (l *latencies) errorRate(now time.Time, window time.Duration) (float64, uint64) {
	minutes := int64(window / time.Minute)
	m := now.Unix() / 60
	var total, late uint64
	l.mu.Lock()
	for k := range min(minutes, countMinutes) {
		c := &l.counts[(m-k)%countMinutes]
		if c.minute == m-k {
			total += c.total
			late += c.late
		}
	}
	l.mu.Unlock()
	if total == 0 {
		return 0, 0
	}
	return float64(late) / float64(total), total
}
