// Package delivery pushes the hub's outbound events to customers' and
// warehouses' HTTP endpoints, for the ERPs and warehouse systems that cannot
// hold a NATS consumer. It sits at the end of the flow: services publish to
// XD_OUT (xd.out.<account>.…, xd.wh.<warehouse>.…), and delivery POSTs every
// event to the webhook named in the accounts file, in order per endpoint,
// signed, with retries, and dead-letters what cannot be delivered.
//
// Accounts whose policy says `delivery: batched` get one digest POST
// (application/cloudevents-batch+json) every digest_every instead; accounts
// whose policy allows experiments get a deterministic share of their events
// mirrored to xd.exp.<account>.<experiment>.<name>. Accounts without a
// webhook are untouched: they keep consuming from NATS directly.
package delivery
