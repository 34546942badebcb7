package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crossdock/crossdock/bench"
)

// TestPrintReportSetsTheHubAgainstItsFloor checks the floor's line: the
// hub's share of the floor when the hub ran as fast as it could, none when
// the scenario paced it, and no line without a floor.
func TestPrintReportSetsTheHubAgainstItsFloor(t *testing.T) {
	floor := &bench.Floor{Writes: 4, Deliveries: 1, Orders: 30000, OrdersPerSec: 10000, Ratio: 0.125}
	for _, tc := range []struct {
		name     string
		scenario string
		floor    *bench.Floor
		want     []string
		not      []string
	}{
		{"a throughput run reads as a share of the floor", "throughput", floor,
			[]string{"floor: the hub's JetStream work per order (writes 4, deliveries 1)", "10000 orders/s (0.125 of raw)", "the hub's 2500 orders/s is 25% of it"}, nil},
		{"an isolation run has no share: its orders were paced", "isolation", floor,
			[]string{"10000 orders/s (0.125 of raw)"}, []string{"% of it"}},
		{"a run without the floor has no floor line", "throughput", nil,
			nil, []string{"floor:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printReport(&out, &bench.Report{Scenario: tc.scenario, Total: bench.TierReport{Tier: "total", OrdersPerSec: 2500}, Floor: tc.floor,
				Raw: bench.Baseline{Messages: 240000, PublishRate: 80000}})
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("report has %q:\n%s", n, out.String())
				}
			}
		})
	}
}
