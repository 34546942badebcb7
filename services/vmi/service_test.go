package vmi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/accounts"
)

func testGLN(i int) string  { return gs1.Complete(fmt.Sprintf("061414%06d", i)) }
func testGTIN(i int) string { return gs1.Complete(fmt.Sprintf("0061414%06d", i)) }

// testAccounts writes an accounts file: "big" (integrated, scheduled VMI)
// with locations GLNs, and "fast" (strategic) with one location.
func testAccounts(t testing.TB, locations int) *accounts.File {
	t.Helper()
	var b strings.Builder
	b.WriteString("warehouses:\n  - {id: dc-1}\naccounts:\n  - id: big\n    name: Big\n    tier: integrated\n    locations:\n")
	for i := range locations {
		fmt.Fprintf(&b, "      - {gln: %q, type: store, warehouse: dc-1}\n", testGLN(i))
	}
	fmt.Fprintf(&b, "  - id: fast\n    name: Fast\n    tier: strategic\n    locations: [{gln: %q, type: dc, warehouse: dc-1}]\n", testGLN(999999))
	f, err := accounts.ParseFile([]byte(b.String()), accounts.DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testBed is a NATS server with the streams, a registry with the test
// accounts, and the bus.
type testBed struct {
	bus *bus.Bus
	reg *accounts.Registry
}

func newTestBed(t testing.TB, locations int) *testBed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg, err := accounts.NewRegistry(ctx, b, accounts.DefaultTiers(), bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Apply(ctx, testAccounts(t, locations)); err != nil {
		t.Fatal(err)
	}
	return &testBed{bus: b, reg: reg}
}

func (tb *testBed) service(t testing.TB, now time.Time) *Service {
	t.Helper()
	s, err := New(context.Background(), Config{Now: func() time.Time { return now }}, tb.bus, tb.reg, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seed writes positions of account big straight into the bucket: items
// GTINs at each of locations locations; every tenth has 5 on hand (below its
// reorder point of 30 with demand 10), the others 100.
func seed(t testing.TB, b *bus.Bus, locations, items int) (needing int) {
	t.Helper()
	for l := range locations {
		needing += seedAt(t, b, l, items)
	}
	return needing
}

// seedAt writes the positions of items GTINs at the l-th location,
// publishing asynchronously so that a million take seconds, not minutes.
func seedAt(t testing.TB, b *bus.Bus, l, items int) (needing int) {
	t.Helper()
	js := b.JetStream()
	futures := make([]jetstream.PubAckFuture, 0, items)
	gln := testGLN(l)
	for i := range items {
		p := Position{Account: "big", Location: gln, GTIN: testGTIN(i), OnHand: 100, Demand: 10, Observed: 1,
			AsOf: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), ReportID: "seed"}
		if (l*items+i)%10 == 0 {
			p.OnHand = 5
			needing++
		}
		v, _ := json.Marshal(&p)
		f, err := js.PublishAsync("$KV."+Bucket+"."+posKey("big", gln, p.GTIN), v)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	waitAcks(t, js, futures)
	return needing
}

func waitAcks(t testing.TB, js jetstream.JetStream, futures []jetstream.PubAckFuture) {
	t.Helper()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(30 * time.Second):
			t.Fatal("no publish ack")
		}
	}
}

func TestScheduledRunIsOncePerDayAcrossProcesses(t *testing.T) {
	tb := newTestBed(t, 2)
	tb.service(t, time.Now()) // creates the bucket
	needing := seed(t, tb.bus, 2, 10)
	ctx := context.Background()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name string
		at   time.Time
		want uint64
	}{
		{"before the cutoff nothing is requested", day.Add(17*time.Hour + 59*time.Minute), 0},
		{"after the cutoff two processes request each replenishment once", day.Add(18*time.Hour + time.Minute), uint64(needing)},
		{"later the same day the run is not repeated", day.Add(23 * time.Hour), uint64(needing)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tb.service(t, tc.at), tb.service(t, tc.at)
			var wg sync.WaitGroup
			for _, s := range []*Service{a, b} {
				wg.Go(func() {
					if err := s.RunDue(ctx, tc.at); err != nil {
						t.Errorf("RunDue: %v", err)
					}
				})
			}
			wg.Wait()
			if got := bustest.Count(t, tb.bus, bus.StreamOut, "xd.wh.dc-1.replenishment.requested"); got != tc.want {
				t.Errorf("%d replenishments for the warehouse, want %d", got, tc.want)
			}
			if got := bustest.Count(t, tb.bus, bus.StreamOut, "xd.out.big.replenishment.requested"); got != tc.want {
				t.Errorf("%d copies for the customer, want %d", got, tc.want)
			}
		})
	}
}

func TestAStaleClaimIsTakenOver(t *testing.T) {
	tb := newTestBed(t, 1)
	s := tb.service(t, time.Now())
	needing := seed(t, tb.bus, 1, 10)
	ctx := context.Background()
	at := time.Date(2026, 3, 3, 18, 30, 0, 0, time.UTC)
	// A process claimed today's run 20 minutes ago and died.
	dead, _ := json.Marshal(claim{State: "running", At: at.Add(-20 * time.Minute)})
	if _, err := s.kv.Create(ctx, "run.big.20260303T1800Z", dead); err != nil {
		t.Fatal(err)
	}
	if err := s.RunDue(ctx, at); err != nil {
		t.Fatal(err)
	}
	if got := bustest.Count(t, tb.bus, bus.StreamOut, "xd.wh.dc-1.replenishment.requested"); got != uint64(needing) {
		t.Errorf("%d replenishments after taking the run over, want %d", got, needing)
	}
	e, err := s.kv.Get(ctx, "run.big.20260303T1800Z")
	if err != nil {
		t.Fatal(err)
	}
	var c claim
	if err := json.Unmarshal(e.Value(), &c); err != nil || c.State != "done" {
		t.Errorf("claim = %s, want done", e.Value())
	}
}

func TestRunAccountRefusesAccountsWithoutVMI(t *testing.T) {
	tb := newTestBed(t, 1)
	s := tb.service(t, time.Now())
	if _, err := s.RunAccount(context.Background(), "nobody", "r"); err != accounts.ErrUnknownAccount {
		t.Errorf("RunAccount(unknown) = %v, want ErrUnknownAccount", err)
	}
}
