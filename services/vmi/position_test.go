package vmi

import (
	"math"
	"testing"
	"time"
)

func i64(v int64) *int64 { return &v }

var day0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func TestZ(t *testing.T) {
	cases := []struct {
		name  string
		level float64
		want  float64
	}{
		{"a 50% service level needs no safety stock", 0.5, 0},
		{"95% is 1.6449 deviations", 0.95, 1.6448536},
		{"98% is 2.0537 deviations", 0.98, 2.0537489},
		{"99.5% uses the upper tail formula", 0.995, 2.5758293},
		{"below 50% is clamped to no safety stock", 0.3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Z(tc.level); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("Z(%v) = %.7f, want %.7f", tc.level, got, tc.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	base := Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.5, CasePack: 1}
	with := func(f func(*Params)) Params { p := base; f(&p); return p }
	cases := []struct {
		name    string
		pos     Position
		par     Params
		reorder float64
		target  float64
		qty     int64
	}{
		{"a first report with no demand history orders nothing", Position{OnHand: 10}, base, 0, 0, 0},
		{"zero demand and nothing on hand orders nothing: never a zero quantity", Position{}, base, 0, 0, 0},
		{"a position above the reorder point orders nothing", Position{OnHand: 21, Demand: 10}, base, 20, 30, 0},
		{"a position at the reorder point orders up to the target", Position{OnHand: 20, Demand: 10}, base, 20, 30, 10},
		{"on order and in transit count in the position", Position{OnHand: 5, OnOrder: 10, Transit: 6, Demand: 10}, base, 20, 30, 0},
		{"the quantity is rounded up to the case pack", Position{OnHand: 7, Demand: 10}, with(func(p *Params) { p.CasePack = 6 }), 20, 30, 24},
		{"fractional levels round the need up", Position{OnHand: 0, Demand: 2.5}, base, 5, 7.5, 8},
		// sigma 3 (variance 9), z(0.95) 1.6448536, lead 4: safety 1.6448536*3*2 = 9.8691
		{"safety stock is z times deviation times the root of the lead time", Position{OnHand: 10, Demand: 5, Variance: 9},
			with(func(p *Params) { p.LeadDays = 4; p.ServiceLevel = 0.95 }), 29.8691, 34.8691, 25},
		{"the agreement's min and max override the computed levels", Position{OnHand: 4}, with(func(p *Params) { p.Min = i64(10); p.Max = i64(50) }), 10, 50, 46},
		{"min/max with a case pack rounds up to whole cases within max", Position{OnHand: 4}, with(func(p *Params) { p.Min = i64(10); p.Max = i64(53); p.CasePack = 12 }), 10, 53, 48},
		{"a case pack that would pass max rounds down to whole cases", Position{OnHand: 4}, with(func(p *Params) { p.Min = i64(10); p.Max = i64(50); p.CasePack = 20 }), 10, 50, 40},
		{"a case bigger than the room below max still sends one case", Position{OnHand: 9}, with(func(p *Params) { p.Min = i64(10); p.Max = i64(20); p.CasePack = 24 }), 10, 20, 24},
		{"a min alone raises the reorder point and the target with it", Position{OnHand: 3, Demand: 1}, with(func(p *Params) { p.Min = i64(8) }), 8, 8, 5},
		{"an open replenishment blocks a second one", Position{OnHand: 0, Demand: 10, Open: &Replenishment{ID: "r1", Quantity: 5, Shipped: 5}}, base, 20, 30, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(&tc.pos, tc.par)
			if math.Abs(d.Reorder-tc.reorder) > 1e-3 || math.Abs(d.Target-tc.target) > 1e-3 || d.Quantity != tc.qty {
				t.Errorf("Evaluate = reorder %.4f target %.4f qty %d, want %.4f %.4f %d", d.Reorder, d.Target, d.Quantity, tc.reorder, tc.target, tc.qty)
			}
			if d.Quantity < 0 {
				t.Errorf("negative quantity %d", d.Quantity)
			}
		})
	}
}

// obs is one Observe call.
type obs struct {
	at      time.Duration // after day0
	onHand  int64
	onOrder *int64
	sold    *int64
}

func TestObserve(t *testing.T) {
	days := func(n float64) time.Duration { return time.Duration(n * 24 * float64(time.Hour)) }
	cases := []struct {
		name     string
		start    Position
		reports  []obs
		demand   float64
		variance float64
		onHand   int64
		transit  int64
		open     bool
	}{
		{"the first report sets on hand and no demand", Position{}, []obs{{0, 40, nil, i64(12)}}, 0, 0, 40, 0, false},
		{"sold over two days is half of it per day, seeding the level", Position{},
			[]obs{{0, 100, nil, nil}, {days(2), 80, nil, i64(20)}}, 10, 0, 80, 0, false},
		// a = 0.2 over one day; e = 55-10 = 45; demand 10+9 = 19; variance 0.8*(0+0.2*2025) = 324
		{"a later observation is smoothed with its deviation", Position{},
			[]obs{{0, 100, nil, nil}, {days(2), 80, nil, i64(20)}, {days(3), 25, nil, i64(55)}}, 19, 324, 25, 0, false},
		// two days: a = 1-0.8^2 = 0.36; e = 5-10 = -5; demand 8.2; variance 0.64*(0+0.36*25) = 5.76
		{"a longer gap weighs the observation more", Position{},
			[]obs{{0, 100, nil, nil}, {days(1), 90, nil, i64(10)}, {days(3), 80, nil, i64(10)}}, 8.2, 5.76, 80, 0, false},
		{"without sales, the fall of on hand is the demand", Position{},
			[]obs{{0, 50, nil, nil}, {days(1), 44, nil, nil}}, 6, 0, 44, 0, false},
		{"a report older than the last one does not move the position back", Position{},
			[]obs{{days(1), 30, nil, nil}, {0, 90, nil, nil}}, 0, 0, 30, 0, false},
		{"a receipt shown by sales closes the replenishment in transit", Position{Transit: 24, Open: &Replenishment{ID: "r", Quantity: 24, Shipped: 24}},
			[]obs{{0, 10, nil, nil}, {days(1), 30, nil, i64(4)}}, 4, 0, 30, 0, false},
		{"without sales, a rise of on hand is the receipt and the rest was sold", Position{Transit: 24, Open: &Replenishment{ID: "r", Quantity: 24, Shipped: 24}},
			[]obs{{0, 10, nil, nil}, {days(1), 30, nil, nil}}, 4, 0, 30, 0, false},
		{"a report before the goods arrive keeps the replenishment open", Position{Transit: 24, Open: &Replenishment{ID: "r", Quantity: 24, Shipped: 24}},
			[]obs{{0, 10, nil, nil}, {days(1), 6, nil, i64(4)}}, 4, 0, 6, 24, true},
		{"an unshipped replenishment stays open whatever arrives", Position{Open: &Replenishment{ID: "r", Quantity: 24}},
			[]obs{{0, 10, nil, nil}, {days(1), 30, nil, i64(4)}}, 4, 0, 30, 0, true},
		{"the customer's own on order is taken as reported", Position{},
			[]obs{{0, 10, i64(7), nil}}, 0, 0, 10, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.start
			for i, r := range tc.reports {
				p.Observe(Item{OnHand: r.onHand, OnOrder: r.onOrder, SoldSinceLast: r.sold}, day0.Add(r.at), "rep-"+string(rune('a'+i)), 0)
			}
			if math.Abs(p.Demand-tc.demand) > 1e-9 || math.Abs(p.Variance-tc.variance) > 1e-9 || p.OnHand != tc.onHand || p.Transit != tc.transit || (p.Open != nil) != tc.open {
				t.Errorf("position = demand %v variance %v on hand %d transit %d open %v, want %v %v %d %d %v",
					p.Demand, p.Variance, p.OnHand, p.Transit, p.Open != nil, tc.demand, tc.variance, tc.onHand, tc.transit, tc.open)
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	par := Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.98, CasePack: 12}
	p := Position{OnHand: 10, OnOrder: 5, Demand: 17.3, Variance: 21}
	var q int64
	for b.Loop() {
		q += Evaluate(&p, par).Quantity
	}
	if q == 0 {
		b.Fatal("no quantity")
	}
}

func BenchmarkObserveAndEvaluate(b *testing.B) {
	par := Params{LeadDays: 2, ReviewDays: 1, ServiceLevel: 0.98, CasePack: 12}
	sold := int64(17)
	p := Position{}
	at := day0
	for b.Loop() {
		at = at.Add(24 * time.Hour)
		p.Observe(Item{OnHand: 40, SoldSinceLast: &sold}, at, "r", 0)
		Evaluate(&p, par)
	}
}
