package rfid

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub/hubtest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// The tests below run the RFID service on its lanes as the hub runs it:
// reads arrive in XD_ROUTED as the router leaves them, the answers are read
// from the account's subjects, and tags through the service's HTTP API.

// Read points at acme's locations: the DC (GLN 0614141000005) has a dock
// and a back room, the store (GLN 0614141000012) a shelf.
const (
	acmeDock     = "urn:epc:id:sgln:0614141.00000.dock1"
	acmeBackRoom = "urn:epc:id:sgln:0614141.00000.backroom"
	acmeShelf    = "urn:epc:id:sgln:0614141.00001.shelf7"
	globexDC     = "0614141000029"
)

// laneAccounts is acme (strategic: RFID on) with a DC and a store, and
// globex (integrated) with a DC; readers, when not empty, is acme's
// readers: entry.
func laneAccounts(readers string) string {
	if readers != "" {
		readers = "\n    readers: " + readers
	}
	return fmt.Sprintf(`warehouses:
  - {id: dc-east}
accounts:
  - id: acme
    tier: strategic
    api_keys: [%q]
    locations:
      - {gln: "0614141000005", type: dc, warehouse: dc-east}
      - {gln: "0614141000012", type: store, warehouse: dc-east}%s
  - id: globex
    tier: integrated
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
`, accounts.HashKey("key-acme"), readers, accounts.HashKey("key-globex"), globexDC)
}

// lane is the RFID service on a real server, its HTTP API on a real listener.
type lane struct {
	t    *testing.T
	bus  *bus.Bus
	reg  *accounts.Registry
	base string
	stop func() // stops the service; the test's end does too
}

func startLane(t *testing.T, accountsYAML string) *lane {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	l := &lane{t: t, bus: b, reg: accountstest.Registry(t, b, accountsYAML)}
	l.restart()
	return l
}

// restart starts the service (again, after stop) on the same server, as a
// new process would.
func (l *lane) restart() {
	l.t.Helper()
	svc, err := New(context.Background(), Config{}, l.bus, l.reg, bustest.Logger(l.t))
	if err != nil {
		l.t.Fatal(err)
	}
	l.stop = bustest.Run(l.t, svc.Run)
	srv := httptest.NewServer(svc.Handler())
	l.t.Cleanup(srv.Close)
	l.base = srv.URL
}

// tag is the hex of an SGTIN-96 of the standard's example item with serial n.
func tag(n int) string {
	h, err := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(n)}.Hex()
	if err != nil {
		panic(err)
	}
	return h
}

// tagURI is the pure identity URI of tag(n).
func tagURI(n int) string { return fmt.Sprintf("urn:epc:id:sgtin:0614141.812345.%d", n) }

// read is one read of an rfid.observed batch.
type read struct {
	EPC  string    `json:"epc"`
	Time time.Time `json:"time"`
}

// reads returns one read of each tag serial, at at.
func reads(at time.Time, serials ...int) []read {
	out := make([]read, len(serials))
	for i, n := range serials {
		out[i] = read{EPC: tag(n), Time: at}
	}
	return out
}

// send stores a batch of reads in the account's lane.
func (l *lane) send(account, id, reader, readPoint string, rs []read) {
	l.t.Helper()
	hubtest.Route(l.t, l.bus, l.reg, id, "rfid.observed", "/accounts/"+account, account,
		map[string]any{"reader": reader, "read_point": readPoint, "reads": rs})
}

func (l *lane) watch(subject string) <-chan *event.Event {
	return bustest.Watch(l.t, l.bus.Conn(), subject)
}

// get fetches path with an API key.
func (l *lane) get(path, key string) (int, map[string]any) {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.base+path, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	return hubtest.Do(l.t, req, key)
}

func next(t *testing.T, ch <-chan *event.Event) *event.Event {
	t.Helper()
	return bustest.Next(t, ch, 10*time.Second)
}

// captured checks an epcis.captured event against the contract's schema and
// EPCIS 2.0, and returns its data.
func captured(t *testing.T, ev *event.Event) map[string]any {
	t.Helper()
	if ev.Type() != typeCaptured {
		t.Fatalf("got %s, want %s", ev.Type(), typeCaptured)
	}
	d := hubtest.DataOf(t, ev)
	checkEPCIS(t, epcisSchema(t), ev.Data())
	return d
}

func epcList(d map[string]any) []string {
	var out []string
	for _, e := range d["epcList"].([]any) {
		out = append(out, e.(string))
	}
	return out
}

// firstError is the first error of an event.rejected.
func firstError(t *testing.T, ev *event.Event) map[string]any {
	t.Helper()
	return hubtest.DataOf(t, ev)["errors"].([]any)[0].(map[string]any)
}

func TestAnItemMovesFromDockToBackRoomToShelf(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""))
	epcis := l.watch("xd.out.acme.epcis.captured")
	moves := l.watch("xd.out.acme.rfid.location.changed")
	start := time.Now().UTC().Truncate(time.Millisecond)

	steps := []struct{ id, readPoint string }{{"dock-1", acmeDock}, {"back-1", acmeBackRoom}, {"shelf-1", acmeShelf}}
	for i, s := range steps {
		at := start.Add(time.Duration(i) * time.Minute)
		l.send("acme", s.id, "reader-"+s.id, s.readPoint, append(reads(at, 1), reads(at.Add(time.Second), 1)...))
		d := captured(t, next(t, epcis))
		if got := epcList(d); len(got) != 1 || got[0] != tagURI(1) {
			t.Errorf("%s: epcList = %v, want [%s]", s.id, got, tagURI(1))
		}
		if d["action"] != "OBSERVE" || d["bizStep"] != "observing" || d["readPoint"].(map[string]any)["id"] != s.readPoint {
			t.Errorf("%s: event %v, want OBSERVE, observing at %s", s.id, d, s.readPoint)
		}
		if !strings.HasPrefix(d["eventID"].(string), "ni:///sha-256;") {
			t.Errorf("%s: eventID %v, want a CBV 2.0 event hash", s.id, d["eventID"])
		}
		if i == 0 {
			continue
		}
		m := hubtest.DataOf(t, next(t, moves))
		if m["epc"] != tagURI(1) || m["from"] != steps[i-1].readPoint || m["to"] != s.readPoint {
			t.Errorf("move %d = %v, want %s → %s", i, m, steps[i-1].readPoint, s.readPoint)
		}
	}

	t.Run("the owner reads the last location by hex and by URI", func(t *testing.T) {
		for _, in := range []string{tag(1), tagURI(1)} {
			status, body := l.get("/v1/rfid/epcs/"+in, "key-acme")
			if status != http.StatusOK {
				t.Fatalf("GET %s: %d %v", in, status, body)
			}
			if body["location"] != acmeShelf || body["epc"] != tagURI(1) || body["gtin"] != "80614141123458" {
				t.Errorf("GET %s = %v, want at %s", in, body, acmeShelf)
			}
			if n := len(body["recent"].([]any)); n != 3 {
				t.Errorf("GET %s: %d recent observations, want 3", in, n)
			}
		}
	})
	t.Run("another account does not see it", func(t *testing.T) {
		if status, body := l.get("/v1/rfid/epcs/"+tag(1), "key-globex"); status != http.StatusNotFound {
			t.Errorf("GET as globex: %d %v, want 404", status, body)
		}
	})
	t.Run("without an API key it is unauthorized", func(t *testing.T) {
		if status, body := l.get("/v1/rfid/epcs/"+tag(1), ""); status != http.StatusUnauthorized {
			t.Errorf("GET without a key: %d %v, want 401", status, body)
		}
	})
	t.Run("a bad EPC in the path is a bad_epc", func(t *testing.T) {
		status, body := l.get("/v1/rfid/epcs/3574257BF7194E4000001A85", "key-acme")
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "bad_epc") {
			t.Errorf("GET bad EPC: %d %v, want 400 bad_epc", status, body)
		}
	})
}

func TestBadReadsAndReadPoints(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""))
	epcis := l.watch("xd.out.acme.epcis.captured")
	rejected := l.watch("xd.out.acme.event.rejected")
	now := time.Now().UTC()

	t.Run("a bad EPC is reported while the rest of the batch is captured", func(t *testing.T) {
		batch := reads(now, 1, 2)
		batch = append(batch[:1], append([]read{{EPC: "3574257BF7194E4000001A85", Time: now}, {EPC: "307C257BF7194E4000001A85", Time: now}}, batch[1:]...)...)
		l.send("acme", "bad-epc-1", "r1", acmeDock, batch)
		if got := epcList(captured(t, next(t, epcis))); len(got) != 2 || got[0] != tagURI(1) || got[1] != tagURI(2) {
			t.Errorf("epcList = %v, want the two good EPCs", got)
		}
		rej := hubtest.DataOf(t, next(t, rejected))
		errs := rej["errors"].([]any)
		if len(errs) != 2 {
			t.Fatalf("errors = %v, want the two bad reads", errs)
		}
		for i, field := range []string{"reads[1].epc", "reads[2].epc"} {
			e := errs[i].(map[string]any)
			if e["code"] != "bad_epc" || e["field"] != field {
				t.Errorf("errors[%d] = %v, want bad_epc at %s", i, e, field)
			}
		}
		if !strings.Contains(errs[0].(map[string]any)["message"].(string), "header") || !strings.Contains(errs[1].(map[string]any)["message"].(string), "partition") {
			t.Errorf("messages %v, want the reasons (header, partition)", errs)
		}
		bustest.CheckFor(t, 10*time.Second, func() error {
			if n := bustest.Count(t, l.bus, bus.StreamDLQ, "xd.dlq.acme.bad_epc"); n != 1 {
				return fmt.Errorf("%d bad_epc dead letters, want the batch", n)
			}
			return nil
		})
	})

	cases := []struct{ name, readPoint string }{
		{"a read point at another account's location is refused", globexDC},
		{"an SGLN of no known location is refused", "urn:epc:id:sgln:0614141.99999.dock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l.send("acme", "rp-"+tc.readPoint, "r1", tc.readPoint, reads(now, 3))
			if e := firstError(t, next(t, rejected)); e["code"] != "unknown_read_point" || e["field"] != "read_point" {
				t.Errorf("error = %v, want unknown_read_point at read_point", e)
			}
		})
	}
}

func TestDedupeSurvivesARestart(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""))
	epcis := l.watch("xd.out.acme.epcis.captured")
	now := time.Now().UTC()
	l.send("acme", "before-restart", "r1", acmeDock, reads(now, 1))
	captured(t, next(t, epcis))
	l.stop()

	l.restart()
	// Tag 1 again within the window: a duplicate; tag 2 is new.
	l.send("acme", "after-restart", "r1", acmeDock, reads(now.Add(2*time.Second), 1, 2))
	if got := epcList(captured(t, next(t, epcis))); len(got) != 1 || got[0] != tagURI(2) {
		t.Errorf("epcList after restart = %v, want only the new %s", got, tagURI(2))
	}
}

func TestAReadStormOf10000ReadsOf50TagsIs50Observations(t *testing.T) {
	t.Parallel()
	l := startLane(t, laneAccounts(""))
	const total, tags = 10000, 50
	cases := []struct {
		name     string
		batches  int
		firstTag int
	}{
		{"20 batches of 500 reads", 20, 1000},
		{"one batch of 10,000 reads", 1, 2000},
	}
	acked := uint64(0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now().UTC()
			per := total / tc.batches
			for b := range tc.batches {
				rs := make([]read, per)
				for i := range rs {
					n := b*per + i
					// 10,000 reads over 4 s, inside the 5 s window.
					rs[i] = read{EPC: tag(tc.firstTag + n%tags), Time: start.Add(time.Duration(n) * 400 * time.Microsecond)}
				}
				l.send("acme", fmt.Sprintf("storm-%d-%d", tc.firstTag, b), "dock-reader", acmeDock, rs)
			}
			acked += uint64(tc.batches)
			bustest.Settled(t, l.bus, bus.StreamRouted, "rfid-priority", acked)
			seen := map[string]int{}
			for _, ev := range stored(t, l.bus, "xd.out.acme.epcis.captured") {
				for _, e := range epcList(captured(t, ev)) {
					for n := tc.firstTag; n < tc.firstTag+tags; n++ {
						if e == tagURI(n) {
							seen[e]++
						}
					}
				}
			}
			if len(seen) != tags {
				t.Errorf("%d EPCs observed, want %d", len(seen), tags)
			}
			for e, n := range seen {
				if n != 1 {
					t.Errorf("%s observed %d times, want once", e, n)
				}
			}
		})
	}
}

func TestConfiguredReaders(t *testing.T) {
	t.Parallel()
	readers := `[{id: dock-1, location: "0614141000005", read_point: "` + acmeDock + `", biz_step: receiving, disposition: in_progress, dedupe_window: 1m}]`
	l := startLane(t, laneAccounts(readers))
	epcis := l.watch("xd.out.acme.epcis.captured")
	rejected := l.watch("xd.out.acme.event.rejected")
	now := time.Now().UTC()

	t.Run("a configured reader's reads get its bizStep, disposition and window", func(t *testing.T) {
		l.send("acme", "cfg-1", "dock-1", acmeDock, reads(now, 1))
		d := captured(t, next(t, epcis))
		if d["bizStep"] != "receiving" || d["disposition"] != "in_progress" {
			t.Errorf("event = %v, want bizStep receiving, disposition in_progress", d)
		}
		// 30 s later is inside the reader's 1m window: only tag 2 is new.
		l.send("acme", "cfg-2", "dock-1", acmeDock, reads(now.Add(30*time.Second), 1, 2))
		if got := epcList(captured(t, next(t, epcis))); len(got) != 1 || got[0] != tagURI(2) {
			t.Errorf("epcList = %v, want only %s", got, tagURI(2))
		}
	})
	t.Run("a configured reader at another read point is refused", func(t *testing.T) {
		l.send("acme", "cfg-3", "dock-1", acmeBackRoom, reads(now, 3))
		if e := firstError(t, next(t, rejected)); e["code"] != "unknown_read_point" {
			t.Errorf("error = %v, want unknown_read_point", e)
		}
	})
	t.Run("a reader at another account's location is refused in the file", func(t *testing.T) {
		bad := strings.Replace(laneAccounts(readers), `location: "0614141000005", read_point`, `location: "0614141000029", read_point`, 1)
		if _, err := accounts.ParseFile([]byte(bad), accounts.DefaultTiers()); err == nil || !strings.Contains(err.Error(), "readers[0].location") {
			t.Errorf("ParseFile = %v, want an error naming readers[0].location", err)
		}
	})
}

// stored returns every event stored in XD_OUT on subject.
func stored(t *testing.T, b *bus.Bus, subject string) []*event.Event {
	t.Helper()
	ctx := context.Background()
	n := bustest.Count(t, b, bus.StreamOut, subject)
	if n == 0 {
		return nil
	}
	c, err := b.JetStream().OrderedConsumer(ctx, bus.StreamOut, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(int(n), jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	for m := range batch.Messages() {
		ev, err := bus.Decode(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
