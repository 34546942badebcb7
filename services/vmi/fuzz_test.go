package vmi

import (
	"math"
	"testing"
	"time"
)

// FuzzEvaluate feeds two reports of arbitrary counts, gaps and policies
// through Observe and Evaluate and checks what must always hold: levels are
// numbers, a quantity is never negative, a positive one is whole cases, and
// an open replenishment blocks another. Seeds are in testdata/fuzz.
func FuzzEvaluate(f *testing.F) {
	f.Add(int64(100), int64(10), int64(90), int64(0), 24.0, 2.0, 1.0, 0.98, int64(1), int64(-1), int64(-1))
	f.Add(int64(0), int64(0), int64(0), int64(0), 0.0, 0.5, 0.5, 0.5, int64(12), int64(10), int64(50))
	f.Add(int64(5), int64(500), int64(-1), int64(3), 1.0, 365.0, 365.0, 0.9999, int64(1000), int64(0), int64(1))
	f.Fuzz(func(t *testing.T, first, second, sold, onOrder int64, hours, lead, review, level float64, pack, minimum, maximum int64) {
		if first < 0 || second < 0 || onOrder < 0 || first > 1e12 || second > 1e12 || onOrder > 1e12 || sold > 1e12 ||
			!(hours >= 0 && hours < 1e6) || !(lead > 0 && lead <= 365) || !(review > 0 && review <= 365) || !(level >= 0.5 && level <= 0.9999) ||
			pack < 0 || pack > 1e6 || minimum > 1e12 || maximum > 1e12 {
			t.Skip()
		}
		par := Params{LeadDays: lead, ReviewDays: review, ServiceLevel: level, CasePack: pack}
		if minimum >= 0 {
			par.Min = &minimum
		}
		if maximum >= 1 && (par.Min == nil || *par.Min <= maximum) {
			par.Max = &maximum
		}
		var p Position
		p.Observe(Item{OnHand: first, OnOrder: &onOrder}, day0, "a", 0)
		it := Item{OnHand: second}
		if sold >= 0 {
			it.SoldSinceLast = &sold
		}
		p.Observe(it, day0.Add(time.Duration(hours*float64(time.Hour))), "b", 0)
		d := Evaluate(&p, par)
		if math.IsNaN(d.Reorder) || math.IsNaN(d.Target) || math.IsInf(d.Reorder, 0) || d.Target < d.Reorder {
			t.Fatalf("levels %+v for %+v", d.Levels, p)
		}
		if d.Quantity < 0 || (d.Quantity > 0 && d.Quantity%max(pack, 1) != 0) {
			t.Fatalf("quantity %d with case pack %d", d.Quantity, pack)
		}
		p.Open = &Replenishment{ID: "r", Quantity: 1}
		if q := Evaluate(&p, par).Quantity; q != 0 {
			t.Fatalf("second replenishment of %d while one is open", q)
		}
	})
}
