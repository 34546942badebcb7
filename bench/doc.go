// Package bench measures crossdock end to end: it starts a hub with its own
// accounts across the four tiers, drives orders over NATS or HTTP at a fixed
// rate or as fast as it can, and reports per tier what was sent, answered and
// lost, the orders per second and the latency from publish to
// order.accepted, beside a baseline of raw JetStream publishes on the same
// server so that the figures compare across machines as ratios, and, on
// request, a floor: the contract's JetStream work per order with no hub
// code, the best the hub could do on that server.
package bench
