// Package bus is the one place that knows NATS and the CloudEvents wire format.
//
// It runs the embedded nats-server, creates the streams and KV buckets, encodes
// and decodes CloudEvents in the NATS protocol binding, publishes with
// JetStream's deduplication, and runs the consume loop that every service uses:
// a handler returns the events to publish, and the bus stores them, then acks;
// naks with backoff on a transient error; and on a permanent one answers the
// sender with a rejection and moves the original bytes to the dead-letter
// stream. Services never call Ack, Nak or Term themselves.
package bus
