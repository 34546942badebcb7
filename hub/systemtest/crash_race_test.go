//go:build race

package systemtest

// crashOrders is how many orders TestKilledMidStreamProcessesEveryOrderOnce
// sends; fewer under the race detector, which slows the hub several times.
const crashOrders = 600
