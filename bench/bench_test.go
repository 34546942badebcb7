package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus/bustest"
)

// TestRunCountsEveryOrder runs a short bench and checks its bookkeeping: every
// order sent is answered (lost 0) and the tiers add up to the total. It
// asserts nothing about speed.
func TestRunCountsEveryOrder(t *testing.T) {
	for _, transport := range []string{"nats", "http"} {
		t.Run("over "+transport, func(t *testing.T) {
			floor := transport == "nats" // once is enough to see it in the report
			rep, err := Run(context.Background(), Config{Transport: transport, Count: 200, Duration: time.Minute, AccountsPerTier: 2, Baseline: 100 * time.Millisecond,
				Floor: floor, FloorDuration: 100 * time.Millisecond, Dir: t.TempDir(), Stages: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Total.Sent != 200 || rep.Total.Lost != 0 || rep.Total.Rejected != 0 {
				t.Errorf("total = %+v, want 200 sent, 0 lost, 0 rejected (%d send errors, first: %s)", rep.Total, rep.SendErrors, rep.FirstError)
			}
			var sent, accepted int64
			for _, tr := range rep.Tiers {
				sent += tr.Sent
				accepted += tr.Accepted
				if tr.Sent != 50 {
					t.Errorf("tier %s sent %d, want 50 (round robin over the tiers)", tr.Tier, tr.Sent)
				}
			}
			if sent != rep.Total.Sent || accepted != rep.Total.Accepted {
				t.Errorf("tiers add up to %d sent / %d accepted, total says %d / %d", sent, accepted, rep.Total.Sent, rep.Total.Accepted)
			}
			if rep.Raw.Messages == 0 || rep.Raw.PublishRate <= 0 {
				t.Errorf("no raw baseline: %+v", rep.Raw)
			}
			if f := rep.Floor; floor && (f == nil || f.Orders == 0 || f.Ratio <= 0) {
				t.Errorf("floor = %+v, want orders and a ratio to raw", f)
			}
			if rep.Load.CPUSeconds <= 0 || rep.Load.PeakRSSMB <= 0 || rep.Load.CPUSeconds > rep.CPUSeconds {
				t.Errorf("load usage = %+v against the process's %.1f s CPU, want a share of it and an RSS", rep.Load, rep.CPUSeconds)
			}
			// Every strategic order is found in every stream on its way:
			// publish (or POST), XD_IN, XD_OUT, answer (three stages);
			// the router hands it to the orders service without a lane
			// copy in XD_ROUTED.
			if want := 3; len(rep.Stages) != want {
				t.Fatalf("stages = %+v, want %d", rep.Stages, want)
			}
			for i, st := range rep.Stages {
				if st.Orders != 50 {
					t.Errorf("stage %s → %s measured %d orders, want the 50 strategic ones", st.From, st.To, st.Orders)
				}
				if i > 0 && st.From != rep.Stages[i-1].To {
					t.Errorf("stage %d starts at %s, where the one before ends at %s", i, st.From, rep.Stages[i-1].To)
				}
			}
		})
	}
}

// TestFloorAnswersEveryOrder runs the floor briefly on a server of its own
// and checks its bookkeeping: every order answered, five stored writes for
// each, nothing on the hub's subjects, and the scratch streams gone after.
// It asserts nothing about speed.
func TestFloorAnswersEveryOrder(t *testing.T) {
	s := bustest.RunServer(t, "")
	r := &runner{cfg: Config{Window: 100}, natsURL: s.ClientURL(), observer: bustest.Connect(t, s)}
	var hubSaw atomic.Int64
	if _, err := r.observer.Subscribe("xd.>", func(*nats.Msg) { hubSaw.Add(1) }); err != nil {
		t.Fatal(err)
	}
	f, err := r.floor(context.Background(), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("floor: %+v", f)
	if f.Orders == 0 || f.OrdersPerSec <= 0 {
		t.Errorf("floor = %+v, want orders and a rate", f)
	}
	if f.Writes != 4 || f.Deliveries != 1 {
		t.Errorf("floor models %d writes and %d deliveries per order, want the hub's 4 and 1", f.Writes, f.Deliveries)
	}
	if want := uint64(f.Writes * f.Orders); f.Stored != want {
		t.Errorf("floor stored %d messages for %d orders, want %d (%d each)", f.Stored, f.Orders, want, f.Writes)
	}
	if err := r.observer.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := hubSaw.Load(); n != 0 {
		t.Errorf("%d floor messages on xd.>, where the hub's consumers would see them", n)
	}
	js, err := jetstream.New(r.observer)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range floorStreams {
		if _, err := js.Stream(context.Background(), name); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("stream %s after the floor: %v, want it deleted", name, err)
		}
	}
}

func TestIsolationScenarioReportsBothPhases(t *testing.T) {
	rep, err := Run(context.Background(), Config{Scenario: "isolation", Rate: 50, Duration: 2 * time.Second, AccountsPerTier: 1, Window: 100, Baseline: 100 * time.Millisecond, Dir: t.TempDir(), Stages: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Isolation == nil || rep.Isolation.FloodSent == 0 {
		t.Fatalf("isolation = %+v, want a flood", rep.Isolation)
	}
	phases := map[string]int{}
	for _, st := range rep.Stages {
		if st.Orders > 0 {
			phases[st.Phase]++
		}
	}
	if phases["alone"] != 3 || phases["flood"] != 3 {
		t.Errorf("stages per phase = %v, want 3 alone and 3 under the flood", phases)
	}
	if rep.Total.Lost != 0 {
		t.Errorf("lost %d orders", rep.Total.Lost)
	}
}

func TestIsolationFloodAtAFixedRate(t *testing.T) {
	rep, err := Run(context.Background(), Config{Scenario: "isolation", Rate: 20, FloodRate: 20, Duration: 2 * time.Second, AccountsPerTier: 1, Window: 100, Baseline: 100 * time.Millisecond, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// One second of flood at 20 a second is at most 20 orders, however
	// loaded the machine (fewer when the flood's sender runs late and the
	// drive ends first); unpaced, hundreds.
	if i := rep.Isolation; i == nil || i.FloodRate != 20 || i.FloodSent == 0 || i.FloodSent > 20 {
		t.Fatalf("isolation = %+v, want a flood of at most 20 orders at 20/s", rep.Isolation)
	}
	if rep.Total.Lost != 0 {
		t.Errorf("lost %d orders", rep.Total.Lost)
	}
}

// TestPacerLetsThroughNoSendDueAfterItsEnd paces a drive whose whole
// second is already past, as it is for a process that gets the CPU back
// after its end: every send is due at once, and only the 20 due before the
// end go.
func TestPacerLetsThroughNoSendDueAfterItsEnd(t *testing.T) {
	start := time.Now().Add(-time.Hour)
	p := newPacer(20, start, start.Add(time.Second))
	n := 0
	for n <= 1000 && p.wait(context.Background()) {
		n++
	}
	if n != 20 {
		t.Errorf("a pacer at 20/s for one second let %d sends through, want 20", n)
	}
}

func TestSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarise(ds)
	want := Latencies{P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if got != want {
		t.Errorf("summarise(1..1000 ms) = %+v, want %+v", got, want)
	}
}

func TestGLNHasItsCheckDigit(t *testing.T) {
	if got := gln(0); got != "0614141000005" {
		t.Errorf("gln(0) = %s, want 0614141000005", got)
	}
}

// TestPostReusesItsConnection checks that the HTTP load generator reads each
// answer to the end, so that its connections are kept alive: when it did not,
// every order dialled a new connection and the dialling was a tenth of the
// CPU of an HTTP run.
func TestPostReusesItsConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":["x"]}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	r := &runner{httpBase: srv.URL, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	a := &account{id: "a", key: "k", gln: gln(0)}
	for i := range 20 {
		id := strconv.Itoa(i)
		if err := r.post(context.Background(), a, id, orderData(id, a.gln)); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 POSTs one after another opened %d connections, want 1", n)
	}
}

// TestIsolationUnderStrictPriority runs the isolation scenario on a hub
// serving its lanes in strict priority, with the bulk lane on its own
// connection: every order of both tiers is answered.
func TestIsolationUnderStrictPriority(t *testing.T) {
	rep, err := Run(context.Background(), Config{Scenario: "isolation", Rate: 50, Duration: 2 * time.Second, AccountsPerTier: 1, Window: 100, Baseline: 100 * time.Millisecond, Dir: t.TempDir(),
		BulkYield: -1, BulkSlots: 2, BulkConn: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Isolation == nil || rep.Isolation.FloodSent == 0 {
		t.Fatalf("isolation = %+v, want a flood", rep.Isolation)
	}
	if rep.Total.Lost != 0 {
		t.Errorf("lost %d orders", rep.Total.Lost)
	}
}
