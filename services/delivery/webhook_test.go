package delivery

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
)

func TestEventsArriveSignedInOrderAndOnceAcrossARestart(t *testing.T) {
	hook := newReceiver(t, "s3cret-acme")
	e := newEnv(t, accountsFile(account("acme", "strategic", hook, ""), account("globex", "integrated", nil, "")))
	_, stop := e.start(Config{NoExperiments: true})

	want := ids("ev", 1, 30)
	for _, id := range want[:15] {
		e.publish("acme", "order.accepted", id)
	}
	e.publish("globex", "order.accepted", "not-for-acme")
	hook.waitFor(15)
	stop() // the delivery process stops between two events

	for _, id := range want[15:] {
		e.publish("acme", "order.accepted", id)
	}
	_, stop2 := e.start(Config{NoExperiments: true})
	defer stop2()
	got := hook.waitFor(30)
	if !slices.Equal(got, want) {
		t.Errorf("arrived %v,\nwant exactly once and in order %v", got, want)
	}
}

func TestAShutdownDuringAPOSTFinishesItAndSendsNothingTwice(t *testing.T) {
	inflight, proceed := make(chan struct{}), make(chan struct{})
	hook := newReceiver(t, "k")
	hook.answer = func(n int, _ http.ResponseWriter, _ *http.Request) bool {
		if n == 4 {
			close(inflight)
			<-proceed // the process is told to stop while this POST is open
		}
		return false
	}
	e := newEnv(t, accountsFile(account("acme", "strategic", hook, "")))
	_, cancel, wait := e.startSplit(Config{NoExperiments: true})
	want := ids("x", 1, 8)
	for _, id := range want {
		e.publish("acme", "order.accepted", id)
	}
	<-inflight
	cancel()
	close(proceed)
	wait()
	if got := hook.got(); !slices.Equal(got, want[:4]) {
		t.Errorf("before the restart %v arrived, want %v (the POST in flight finished)", got, want[:4])
	}
	e.start(Config{NoExperiments: true})
	if got := hook.waitFor(8); !slices.Equal(got, want) {
		t.Errorf("arrived %v, want each once and in order %v", got, want)
	}
}

func TestAFailingEndpointIsRetriedOrDeadLettered(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int  // answers to the first attempts, then 200
		attempts int    // requests the endpoint sees for the first event
		dead     bool   // the first event ends in the DLQ
		response string // start of the dead letter's response header
	}{
		{name: "a 500 then a 200 is delivered on the second attempt", statuses: []int{500}, attempts: 2},
		{name: "a 503, a 429 and a 408 are all retried", statuses: []int{503, 429, 408}, attempts: 4},
		{name: "a permanent 400 goes to the DLQ after one try", statuses: []int{400}, attempts: 1, dead: true, response: "HTTP 400"},
		{name: "a 410 is not retried either", statuses: []int{410}, attempts: 1, dead: true, response: "HTTP 410"},
		{name: "a 500 on every attempt goes to the DLQ after the last", statuses: []int{500, 500, 500, 500}, attempts: 4, dead: true, response: "HTTP 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook := newReceiver(t, "k")
			hook.answer = func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n <= len(tc.statuses) {
					w.WriteHeader(tc.statuses[n-1])
					_, _ = w.Write([]byte("nope"))
					return true
				}
				return false
			}
			e := newEnv(t, accountsFile(account("acme", "strategic", hook, "")))
			e.start(Config{NoExperiments: true})
			e.publish("acme", "order.accepted", "first")
			e.publish("acme", "order.accepted", "second")

			want := []string{"first", "second"}
			if tc.dead {
				want = want[1:]
			}
			got := hook.waitFor(len(want))
			if !slices.Equal(got, want) {
				t.Errorf("arrived %v, want %v", got, want)
			}
			if n := hook.tries() - 1; n != tc.attempts {
				t.Errorf("the first event was tried %d times, want %d", n, tc.attempts)
			}
			dead := e.dlq("xd.dlq.acme." + bus.CodeDeliveryFailed)
			if !tc.dead {
				if len(dead) != 0 {
					t.Errorf("%d dead letters, want none", len(dead))
				}
				return
			}
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			dl := dead[0]
			if dl.Header.Get("ce-id") != "first" || !strings.HasPrefix(dl.Header.Get(HeaderDLQResponse), tc.response) {
				t.Errorf("dead letter of %q with response %q, want first with %s", dl.Header.Get("ce-id"), dl.Header.Get(HeaderDLQResponse), tc.response)
			}
			if dl.Header.Get(bus.HeaderDLQSubject) != "xd.out.acme.order.accepted" || dl.Header.Get(bus.HeaderDLQStream) != bus.StreamOut {
				t.Errorf("dead letter names %s in %s", dl.Header.Get(bus.HeaderDLQSubject), dl.Header.Get(bus.HeaderDLQStream))
			}
		})
	}
}

func TestSenderWaitsAsAskedBetweenAttempts(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		status     int
		check      func(d time.Duration) bool
		want       string
	}{
		{name: "Retry-After in seconds on a 429 is honoured", status: 429, retryAfter: "7",
			check: func(d time.Duration) bool { return d == 7*time.Second }, want: "7s"},
		{name: "Retry-After as a date on a 503 is honoured", status: 503, retryAfter: time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat),
			check: func(d time.Duration) bool { return d > 80*time.Second && d <= 90*time.Second }, want: "about 90s"},
		{name: "without Retry-After the first backoff is jittered below the base", status: 500,
			check: func(d time.Duration) bool { return d >= 50*time.Millisecond && d <= 100*time.Millisecond }, want: "50ms to 100ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook := newReceiver(t, "k")
			hook.answer = func(n int, w http.ResponseWriter, _ *http.Request) bool {
				if n == 1 {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					return true
				}
				return false
			}
			s := NewSender(Retry{Attempts: 3, Base: 100 * time.Millisecond, Max: time.Second})
			var waits []time.Duration
			s.wait = func(_ context.Context, d time.Duration, _ func()) bool { waits = append(waits, d); return true }
			ev, _ := bus.NewRootEvent("e-1", bus.Type("order.accepted"), "/crossdock/test", "a", map[string]any{})
			out := s.Deliver(context.Background(), Endpoint{Account: "a", URL: hook.srv.URL, Secret: "k"}, BinaryPayload(ev), nil)
			if !out.Delivered || out.Attempts != 2 {
				t.Fatalf("outcome %+v, want delivered on attempt 2", out)
			}
			if len(waits) != 1 || !tc.check(waits[0]) {
				t.Errorf("waited %v, want one wait of %s", waits, tc.want)
			}
		})
	}
}

func TestBackoffGrowsExponentiallyWithJitterUpToTheMaximum(t *testing.T) {
	r := Retry{Base: 100 * time.Millisecond, Max: time.Second}
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for range 50 {
			if d := r.Backoff(n); d < full/2 || d > full {
				t.Fatalf("Backoff(%d) = %s, want between %s and %s", n, d, full/2, full)
			}
		}
	}
}

func TestASlowEndpointHoldsBackOnlyItsOwnAccount(t *testing.T) {
	release := make(chan struct{})
	slow := newReceiver(t, "slow")
	slow.answer = func(int, http.ResponseWriter, *http.Request) bool {
		<-release // an endpoint that takes as long as the test wants
		return false
	}
	fast := newReceiver(t, "fast")
	released := false
	t.Cleanup(func() { // before the receivers close, so a failure does not hang
		if !released {
			close(release)
		}
	})
	e := newEnv(t, accountsFile(account("slowco", "integrated", slow, ""), account("fastco", "integrated", fast, "")))
	e.start(Config{NoExperiments: true})

	for _, id := range ids("s", 1, 5) {
		e.publish("slowco", "order.accepted", id)
	}
	waitForAttempt(t, slow)
	want := ids("f", 1, 50)
	for _, id := range want {
		e.publish("fastco", "order.accepted", id)
	}
	if got := fast.waitFor(50); !slices.Equal(got, want) {
		t.Errorf("fast account got %v, want %v", got, want)
	}
	if got := slow.got(); len(got) != 0 {
		t.Errorf("the slow endpoint finished %v while it was blocked", got)
	}
	close(release)
	released = true
	if got := slow.waitFor(5); !slices.Equal(got, ids("s", 1, 5)) {
		t.Errorf("slow account got %v after release", got)
	}
}

// waitForAttempt waits until the endpoint has been called once.
func waitForAttempt(t testing.TB, rc *receiver) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rc.tries() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the endpoint was never called")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAReloadAddsAndRemovesDeliveriesWithoutARestart(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("acme", "strategic", nil, "")))
	e.start(Config{NoExperiments: true})
	e.publish("acme", "order.accepted", "before")

	e.apply(accountsFile(account("acme", "strategic", hook, "")))
	e.publish("acme", "order.accepted", "after")
	if got := hook.waitFor(2); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("arrived %v, want the retained event and the new one", got)
	}

	moved := newReceiver(t, "k")
	e.apply(accountsFile(account("acme", "strategic", moved, ""))) // the customer moved its endpoint
	e.publish("acme", "order.accepted", "moved")
	if got := moved.waitFor(1); !slices.Equal(got, []string{"moved"}) {
		t.Errorf("the new endpoint got %v, want only the event after the move", got)
	}
	if got := hook.got(); len(got) != 2 {
		t.Errorf("the old endpoint got %v after the move", got)
	}
}

func TestTwoDeliveryProcessesKeepOrderAndSendOnce(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("acme", "strategic", hook, "")))
	e.start(Config{NoExperiments: true})
	e.start(Config{NoExperiments: true}) // shares the endpoint's consumer
	want := ids("p", 1, 40)
	for _, id := range want {
		e.publish("acme", "order.accepted", id)
	}
	if got := hook.waitFor(40); !slices.Equal(got, want) {
		t.Errorf("arrived %v,\nwant each once and in order %v", got, want)
	}
}

// TestAnEndpointWhoseConsumerIsDeletedIsServedAgain deletes the endpoint's
// durable consumer under a running delivery (an operator's mistake, a
// stream restored from backup): the worker stops on it and is started
// again, with a new consumer, and the next events arrive.
func TestAnEndpointWhoseConsumerIsDeletedIsServedAgain(t *testing.T) {
	hook := newReceiver(t, "k")
	e := newEnv(t, accountsFile(account("acme", "strategic", hook, "")))
	e.start(Config{NoExperiments: true})
	e.publish("acme", "order.accepted", "before")
	hook.waitFor(1)
	ep := Endpoint{Account: "acme"}
	if err := e.bus.JetStream().DeleteConsumer(context.Background(), bus.StreamOut, ep.Durable()); err != nil {
		t.Fatal(err)
	}
	e.publish("acme", "order.accepted", "after")
	if got := hook.waitFor(2); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("arrived %v, want before then after", got)
	}
}
