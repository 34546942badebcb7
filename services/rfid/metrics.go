package rfid

import "github.com/prometheus/client_golang/prometheus"

// metrics are the RFID service's Prometheus collectors.
type metrics struct {
	// writes counts track writes by outcome: stored, or conflict (another
	// process wrote the track since it was read; it is read again). Many
	// conflicts mean rfid processes contend for the same read points.
	writes *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crossdock_rfid_track_writes_total",
			Help: "Writes of EPC tracks, by outcome: stored, or conflict (another process wrote the track since it was read; it is read and decided again).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.writes)
	}
	return m
}
