package bus

import (
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
