//go:build race

package hub

// crashOrders is how many orders TestKilledMidStreamProcessesEveryOrderOnce
// sends; fewer under the race detector, which slows the hub several times.
const crashOrders = 600
