package flow

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkOrderThroughTheFlow is the flow's work per order on its hot
// path: the intake counted and remembered, the lane counted, the
// acceptance measured.
func BenchmarkOrderThroughTheFlow(b *testing.B) {
	c := &clock{time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)}
	f := newTestFlow(c)
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "order-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)] + "-" + strconv.Itoa(i/len(ids))
		at := c.t.Add(time.Duration(i) * time.Millisecond)
		f.Intake(ChannelHTTP, "acme", "order.placed", id, at)
		f.Routed("strategic", at)
		f.Decided("acme", id, Accepted, time.Time{}, at.Add(3*time.Millisecond))
	}
}
