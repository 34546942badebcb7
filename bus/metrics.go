package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossdock_messages_total",
			Help: "Messages a consumer finished, by outcome: acked, rejected (dead-lettered), retried, dead_lettered (out of attempts, or its handler panicked), dropped (neither its rejection nor its dead letter could be stored; terminated and logged).",
		}, []string{"consumer", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crossdock_handle_seconds",
			Help:    "Time from a message's arrival at a worker to its ack, nak or term.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}, []string{"consumer"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossdock_handler_panics_total",
			Help: "Handler panics recovered by the consume loop, by consumer; each message was dead-lettered as processing_failed.",
		}, []string{"consumer"}),
	}
	if reg != nil {
		reg.MustRegister(m.handled, m.duration, m.panics)
	}
	return m
}

// streamUsage reports, at each scrape, what each of the hub's streams holds
// and its limit, so that an operator sees a stream filling before it
// refuses new messages (StreamLimits).
type streamUsage struct {
	b          *Bus
	bytes, max *prometheus.Desc
}

func newStreamUsage(b *Bus) *streamUsage {
	return &streamUsage{
		b: b,
		bytes: prometheus.NewDesc("crossdock_stream_bytes",
			"Bytes a stream holds; at crossdock_stream_max_bytes it refuses new messages (the DLQ drops its oldest).", []string{"stream"}, nil),
		max: prometheus.NewDesc("crossdock_stream_max_bytes",
			"A stream's limit in bytes (--stream-max-bytes); -1: none.", []string{"stream"}, nil),
	}
}

func (u *streamUsage) Describe(ch chan<- *prometheus.Desc) {
	ch <- u.bytes
	ch <- u.max
}

// Collect asks the server about each stream, each question bounded by a
// short deadline so that a scrape never hangs on an unreachable cluster;
// a stream it cannot read is left out.
func (u *streamUsage) Collect(ch chan<- prometheus.Metric) {
	for _, name := range streamNames {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := u.streamInfo(ctx, name)
		cancel()
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(u.bytes, prometheus.GaugeValue, float64(info.State.Bytes), name)
		ch <- prometheus.MustNewConstMetric(u.max, prometheus.GaugeValue, float64(info.Config.MaxBytes), name)
	}
}

func (u *streamUsage) streamInfo(ctx context.Context, name string) (*jetstream.StreamInfo, error) {
	s, err := u.b.js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
