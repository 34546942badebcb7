// Package gateway is where events enter the hub. It authenticates the
// sender, checks every event with package intake (size, identity, type,
// schema) and stores it in XD_IN: over HTTP before it answers 202, and for
// events and files published straight to NATS through its intake relay; the
// router checks those again as the first step of its consumer (a NATS
// publish is stored before anyone can look at it).
package gateway
