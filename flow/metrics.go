package flow

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports a Flow's figures to Prometheus, read from a Snapshot at
// each scrape, so /metrics and the console always agree.
type Collector struct{ f *Flow }

// Collector returns the Flow's Prometheus collector.
func (f *Flow) Collector() prometheus.Collector { return Collector{f} }

var (
	descIntake     = prometheus.NewDesc("crossdock_flow_intake_events_total", "Events stored in XD_IN since this process started following it, by intake channel (the channel extension: api, portal, a file format; nats without one).", []string{"channel"}, nil)
	descLane       = prometheus.NewDesc("crossdock_flow_routed_events_total", "Events stored in XD_IN for the accounts of each tier (a warehouse's for the account it names) since this process started following it, by tier and lane: the events that enter the tier lanes, refused ones included. (Until 2026-12-02 counted in XD_ROUTED, which an event handed straight to a service of the router's process no longer passes through.)", []string{"tier", "lane"}, nil)
	descRate       = prometheus.NewDesc("crossdock_flow_events_per_second", "Events in per second, the mean over the last 10 seconds, by dimension (channel, lane, tier) and its value.", []string{"dimension", "name"}, nil)
	descLatency    = prometheus.NewDesc("crossdock_flow_decision_latency_seconds", "Intake (order.placed stored in XD_IN) to its decision (order.accepted, order.held or order.rejected, or the router's event.rejected, stored in XD_OUT), by tier, window (5m, 1h) and quantile (0.5, 0.99); within 10%. A held order's later release is not in it (crossdock_flow_release_delay_seconds).", []string{"tier", "window", "quantile"}, nil)
	descDecided    = prometheus.NewDesc("crossdock_flow_decided_orders", "Orders decided in the window, by tier.", []string{"tier", "window"}, nil)
	descOutcomes   = prometheus.NewDesc("crossdock_flow_orders_total", "Orders since this process started following the streams, by tier and outcome: accepted, held, rejected (decisions), unanswered (no decision within the longest accept_within, at least an hour), released (held orders accepted on their ordering day).", []string{"tier", "outcome"}, nil)
	descHeld       = prometheus.NewDesc("crossdock_flow_held_orders", "Held orders waiting for their ordering day, by tier; overdue ones are also in crossdock_flow_held_overdue_orders.", []string{"tier"}, nil)
	descOverdue    = prometheus.NewDesc("crossdock_flow_held_overdue_orders", "Held orders whose release time passed more than 5 minutes ago and that are not yet accepted, by tier.", []string{"tier"}, nil)
	descRelease    = prometheus.NewDesc("crossdock_flow_release_delay_seconds", "From a held order's release time (release_at) to its order.accepted, over the orders released in the last hour, by tier and quantile (0.5, 0.99).", []string{"tier", "quantile"}, nil)
	descObjective  = prometheus.NewDesc("crossdock_slo_objective", "The tier's SLO: the share of orders decided (accepted, held or rejected) within crossdock_slo_accept_within_seconds of intake.", []string{"tier"}, nil)
	descWithin     = prometheus.NewDesc("crossdock_slo_accept_within_seconds", "The tier's SLO latency bound.", []string{"tier"}, nil)
	descBurn       = prometheus.NewDesc("crossdock_slo_burn_rate", "How many times faster than sustainable the tier's error budget burns, over the window (5m, 30m, 1h, 6h).", []string{"tier", "window"}, nil)
	descBreach     = prometheus.NewDesc("crossdock_slo_breach", "1 when the multiwindow burn-rate rule fires (page: 14.4x over 1h and 5m; ticket: 6x over 6h and 30m).", []string{"tier", "severity"}, nil)
	descPending    = prometheus.NewDesc("crossdock_consumer_pending", "Messages stored for a durable consumer and not yet delivered.", []string{"stream", "consumer"}, nil)
	descAckPending = prometheus.NewDesc("crossdock_consumer_ack_pending", "Messages delivered to a durable consumer and not yet acknowledged.", []string{"stream", "consumer"}, nil)
	descAckLag     = prometheus.NewDesc("crossdock_consumer_ack_lag_seconds", "Seconds since a durable consumer's ack floor last moved while it has work; 0 when idle.", []string{"stream", "consumer"}, nil)
	descDLQ        = prometheus.NewDesc("crossdock_dlq_depth", "Dead letters in XD_DLQ by account (or warehouse) and code.", []string{"account", "warehouse", "code"}, nil)
	descOpen       = prometheus.NewDesc("crossdock_flow_open_orders", "Orders whose intake was seen and whose decision was not yet.", nil, nil)
)

// Describe implements prometheus.Collector.
func (Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIntake, descLane, descRate, descLatency, descDecided, descOutcomes, descHeld, descOverdue, descRelease, descObjective, descWithin,
		descBurn, descBreach, descPending, descAckPending, descAckLag, descDLQ, descOpen} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range s.Channels {
		ch <- prometheus.MustNewConstMetric(descIntake, prometheus.CounterValue, r.Total, r.Name)
		gauge(descRate, r.Rate, "channel", r.Name)
	}
	for _, r := range s.Lanes {
		gauge(descRate, r.Rate, "lane", r.Name)
	}
	for _, t := range s.Tiers {
		tier := string(t.Tier)
		ch <- prometheus.MustNewConstMetric(descLane, prometheus.CounterValue, t.Total, tier, string(t.Lane))
		gauge(descRate, t.Rate.Rate, "tier", tier)
		for _, l := range t.Latency {
			gauge(descDecided, float64(l.Orders), tier, l.Window)
			if l.Orders > 0 {
				gauge(descLatency, l.P50, tier, l.Window, "0.5")
				gauge(descLatency, l.P99, tier, l.Window, "0.99")
			}
		}
		o := t.Outcomes
		for outcome, n := range map[string]uint64{Accepted: o.Accepted, Held: o.Held, Rejected: o.Rejected, "unanswered": o.Unanswered, "released": o.Released} {
			ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(n), tier, outcome)
		}
		gauge(descHeld, float64(t.Held.Waiting), tier)
		gauge(descOverdue, float64(t.Held.Overdue), tier)
		if t.Held.Released > 0 {
			gauge(descRelease, t.Held.DelayP50, tier, "0.5")
			gauge(descRelease, t.Held.DelayP99, tier, "0.99")
		}
		if t.SLO == nil {
			continue
		}
		gauge(descObjective, t.SLO.Objective, tier)
		if p, ok := c.f.policyOf(t.Tier); ok {
			gauge(descWithin, p.Seconds(), tier)
		}
		for _, b := range t.SLO.Burn {
			gauge(descBurn, b.Rate, tier, b.Window)
		}
		for _, a := range BurnAlerts {
			v := 0.0
			for _, b := range t.SLO.Breaches {
				if b.Severity == a.Severity {
					v = 1
				}
			}
			gauge(descBreach, v, tier, a.Severity)
		}
	}
	for _, co := range s.Consumers {
		gauge(descPending, float64(co.Pending), co.Stream, co.Name)
		gauge(descAckPending, float64(co.AckPending), co.Stream, co.Name)
		gauge(descAckLag, co.AckLag, co.Stream, co.Name)
	}
	for _, d := range s.DLQ {
		gauge(descDLQ, float64(d.Count), d.Account, d.Warehouse, d.Code)
	}
	gauge(descOpen, float64(s.Open))
}
