// Package systemtest holds the system tests of the whole hub: several hub
// processes on a three-node NATS cluster (some of them real processes, killed
// with SIGKILL), a hub killed mid-stream and restarted on its storage, and a
// cluster locked down as deploy/nats/cluster.conf ships, answering the hub's
// auth callout. They check the guarantees no single package can (nothing
// lost, one outcome per order, tenant isolation at the NATS server) and take
// tens of seconds, which is why they are apart from the hub package's own
// tests. The package has no code of its own outside its tests.
package systemtest
