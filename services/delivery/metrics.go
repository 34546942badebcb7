package delivery

import "github.com/prometheus/client_golang/prometheus"

// metrics are the delivery service's Prometheus collectors: what operators
// watch to see an endpoint failing before the DLQ fills.
type metrics struct {
	deliveries *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	duration   prometheus.Histogram
	digested   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossdock_webhook_deliveries_total",
			Help: "Events a webhook delivery finished, by outcome: delivered, dead_lettered, interrupted (shutdown; delivered by the next process).",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossdock_webhook_attempts_total",
			Help: "Webhook POSTs (events and digests), by answer class: 2xx, 3xx, 4xx, 5xx, network.",
		}, []string{"class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "crossdock_webhook_delivery_seconds",
			Help:    "Time from taking an event to its outcome, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12),
		}),
		digested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crossdock_webhook_digested_events_total",
			Help: "Events sent in digests of batched accounts.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.attempts, m.duration, m.digested)
	}
	return m
}

// class is a response's class for the attempts counter.
func (r Response) class() string {
	switch {
	case r.Status == 0:
		return "network"
	case r.Status < 300:
		return "2xx"
	case r.Status < 400:
		return "3xx"
	case r.Status < 500:
		return "4xx"
	}
	return "5xx"
}
