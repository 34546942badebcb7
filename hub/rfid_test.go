package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// Read points at acme's locations: the DC (GLN 0614141000005) has a dock
// and a back room, the store (GLN 0614141000012) a shelf.
const (
	acmeDock     = "urn:epc:id:sgln:0614141.00000.dock1"
	acmeBackRoom = "urn:epc:id:sgln:0614141.00000.backroom"
	acmeShelf    = "urn:epc:id:sgln:0614141.00001.shelf7"
)

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

// rfidRead is one read of an rfid.observed batch.
type rfidRead struct {
	EPC  string    `json:"epc"`
	Time time.Time `json:"time"`
}

// rfidEvent is a structured-mode rfid.observed CloudEvent.
func rfidEvent(account, id, reader, readPoint string, reads []rfidRead) []byte {
	b, _ := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": "/accounts/" + account,
		"type": "crossdock.rfid.observed.v1", "datacontenttype": "application/json",
		"data": map[string]any{"reader": reader, "read_point": readPoint, "reads": reads},
	})
	return b
}

// sendReads posts a batch of reads and requires 202.
func (h *testHub) sendReads(account, id, reader, readPoint string, reads []rfidRead) {
	h.t.Helper()
	status, body := h.post("/v1/events", key(account), "application/cloudevents+json", rfidEvent(account, id, reader, readPoint, reads))
	if status != http.StatusAccepted {
		h.t.Fatalf("post reads %s: %d %v", id, status, body)
	}
}

// reads returns one read of each tag serial, at at.
func reads(at time.Time, serials ...int) []rfidRead {
	out := make([]rfidRead, len(serials))
	for i, n := range serials {
		out[i] = rfidRead{EPC: tag(n), Time: at}
	}
	return out
}

// epcisSchema is the EPCIS 2.0 ObjectEvent schema of the rfid service's tests.
var epcisSchema = func() *jsonschema.Schema {
	f, err := os.Open(filepath.Join("..", "services", "rfid", "testdata", "epcis-2.0-objectevent.schema.json"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("epcis.json", doc); err != nil {
		panic(err)
	}
	return c.MustCompile("epcis.json")
}()

// captured checks an epcis.captured event against the contract's schema and
// EPCIS 2.0, and returns its data.
func captured(t testing.TB, ev *event.Event) map[string]any {
	t.Helper()
	if ev.Type() != "crossdock.epcis.captured.v1" {
		t.Fatalf("got %s, want crossdock.epcis.captured.v1", ev.Type())
	}
	d := dataOf(t, ev)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(ev.Data())))
	if err != nil {
		t.Fatal(err)
	}
	if err := epcisSchema.Validate(v); err != nil {
		t.Errorf("EPCIS event breaks EPCIS 2.0: %v\n%s", err, ev.Data())
	}
	return d
}

func epcList(d map[string]any) []string {
	var out []string
	for _, e := range d["epcList"].([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestRFIDItemMovesFromDockToBackRoomToShelf(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	epcis := h.watch("xd.out.acme.epcis.captured")
	moves := h.watch("xd.out.acme.rfid.location.changed")
	start := time.Now().UTC().Truncate(time.Millisecond)

	steps := []struct{ id, readPoint string }{{"dock-1", acmeDock}, {"back-1", acmeBackRoom}, {"shelf-1", acmeShelf}}
	for i, s := range steps {
		at := start.Add(time.Duration(i) * time.Minute)
		h.sendReads("acme", s.id, "reader-"+s.id, s.readPoint, append(reads(at, 1), reads(at.Add(time.Second), 1)...))
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
		m := dataOf(t, next(t, moves))
		if m["epc"] != tagURI(1) || m["from"] != steps[i-1].readPoint || m["to"] != s.readPoint {
			t.Errorf("move %d = %v, want %s → %s", i, m, steps[i-1].readPoint, s.readPoint)
		}
	}

	t.Run("the owner reads the last location by hex and by URI", func(t *testing.T) {
		for _, in := range []string{tag(1), tagURI(1)} {
			status, body := h.get("/v1/rfid/epcs/"+in, key("acme"))
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
		if status, body := h.get("/v1/rfid/epcs/"+tag(1), key("globex")); status != http.StatusNotFound {
			t.Errorf("GET as globex: %d %v, want 404", status, body)
		}
	})
	t.Run("without an API key it is unauthorized", func(t *testing.T) {
		if status, body := h.get("/v1/rfid/epcs/"+tag(1), ""); status != http.StatusUnauthorized {
			t.Errorf("GET without a key: %d %v, want 401", status, body)
		}
	})
	t.Run("a bad EPC in the path is a bad_epc", func(t *testing.T) {
		status, body := h.get("/v1/rfid/epcs/3574257BF7194E4000001A85", key("acme"))
		if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "bad_epc") {
			t.Errorf("GET bad EPC: %d %v, want 400 bad_epc", status, body)
		}
	})
}

func TestRFIDIsOnTheMenuOfStrategicAndIntegratedOnly(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	cases := []struct {
		account, readPoint string
		want               string
	}{
		{"globex", "0614141000029", "epcis.captured"},
		{"initech", "0614141000043", "event.rejected"},
		{"umbrella", "0614141000104", "event.rejected"},
	}
	for _, tc := range cases {
		t.Run(tc.account+" gets "+tc.want, func(t *testing.T) {
			ch := h.watch("xd.out." + tc.account + "." + tc.want)
			h.sendReads(tc.account, "menu-1", "r1", tc.readPoint, reads(time.Now().UTC(), 1))
			ev := next(t, ch)
			if tc.want == "epcis.captured" {
				captured(t, ev)
				return
			}
			if code := dataOf(t, ev)["errors"].([]any)[0].(map[string]any)["code"]; code != "not_in_tier_menu" {
				t.Errorf("code = %v, want not_in_tier_menu", code)
			}
		})
	}
}

func TestRFIDBadReadsAndReadPoints(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	epcis := h.watch("xd.out.acme.epcis.captured")
	rejected := h.watch("xd.out.acme.event.rejected")
	now := time.Now().UTC()

	t.Run("a bad EPC is reported while the rest of the batch is captured", func(t *testing.T) {
		batch := reads(now, 1, 2)
		batch = append(batch[:1], append([]rfidRead{{EPC: "3574257BF7194E4000001A85", Time: now}, {EPC: "307C257BF7194E4000001A85", Time: now}}, batch[1:]...)...)
		h.sendReads("acme", "bad-epc-1", "r1", acmeDock, batch)
		if got := epcList(captured(t, next(t, epcis))); len(got) != 2 || got[0] != tagURI(1) || got[1] != tagURI(2) {
			t.Errorf("epcList = %v, want the two good EPCs", got)
		}
		rej := dataOf(t, next(t, rejected))
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
		h.lastDLQ(t, "xd.dlq.acme.bad_epc")
	})

	cases := []struct{ name, readPoint string }{
		{"a read point at another account's location is refused", "0614141000029"},
		{"an SGLN of no known location is refused", "urn:epc:id:sgln:0614141.99999.dock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.sendReads("acme", "rp-"+tc.readPoint, "r1", tc.readPoint, reads(now, 3))
			e := dataOf(t, next(t, rejected))["errors"].([]any)[0].(map[string]any)
			if e["code"] != "unknown_read_point" || e["field"] != "read_point" {
				t.Errorf("error = %v, want unknown_read_point at read_point", e)
			}
		})
	}
}

func TestRFIDDedupeSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := startHub(t, dir)
	epcis := h.watch("xd.out.acme.epcis.captured")
	now := time.Now().UTC()
	h.sendReads("acme", "before-restart", "r1", acmeDock, reads(now, 1))
	captured(t, next(t, epcis))
	h.stop()

	h = startHub(t, dir)
	epcis = h.watch("xd.out.acme.epcis.captured")
	// Tag 1 again within the window: a duplicate; tag 2 is new.
	h.sendReads("acme", "after-restart", "r1", acmeDock, reads(now.Add(2*time.Second), 1, 2))
	if got := epcList(captured(t, next(t, epcis))); len(got) != 1 || got[0] != tagURI(2) {
		t.Errorf("epcList after restart = %v, want only the new %s", got, tagURI(2))
	}
}

func TestRFIDReadStormOf10000ReadsOf50TagsIs50Observations(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	const reads, tags = 10000, 50
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
			per := reads / tc.batches
			for b := range tc.batches {
				rs := make([]rfidRead, per)
				for i := range rs {
					n := b*per + i
					// 10,000 reads over 4 s, inside the 5 s window.
					rs[i] = rfidRead{EPC: tag(tc.firstTag + n%tags), Time: start.Add(time.Duration(n) * 400 * time.Microsecond)}
				}
				h.sendReads("acme", fmt.Sprintf("storm-%d-%d", tc.firstTag, b), "dock-reader", acmeDock, rs)
			}
			acked += uint64(tc.batches)
			h.waitConsumer(t, "rfid-priority", acked)
			seen := map[string]int{}
			for _, ev := range h.stored(t, "xd.out.acme.epcis.captured") {
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

// waitConsumer waits until the durable consumer has acked at least n
// messages and holds none.
func (h *testHub) waitConsumer(t testing.TB, durable string, n uint64) {
	t.Helper()
	bustest.CheckFor(t, 30*time.Second, func() error {
		c, err := h.bus.JetStream().Consumer(context.Background(), bus.StreamRouted, durable)
		if err != nil {
			return err
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.AckFloor.Consumer < n || info.NumAckPending > 0 || info.NumPending > 0 {
			return fmt.Errorf("consumer %s: acked %d of %d, %d pending", durable, info.AckFloor.Consumer, n, info.NumPending+uint64(info.NumAckPending))
		}
		return nil
	})
}

// stored returns every event stored in XD_OUT on subject.
func (h *testHub) stored(t testing.TB, subject string) []*event.Event {
	t.Helper()
	ctx := context.Background()
	n := h.count(bus.StreamOut, subject)
	if n == 0 {
		return nil
	}
	c, err := h.bus.JetStream().OrderedConsumer(ctx, bus.StreamOut, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
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

func TestRFIDConfiguredReaders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Give acme a configured dock reader (the first account in the file).
	y := strings.Replace(string(b), "      - {gln: \"0614141000012\", type: store, warehouse: dc-west}\n",
		"      - {gln: \"0614141000012\", type: store, warehouse: dc-west}\n"+
			"    readers:\n"+
			"      - {id: dock-1, location: \"0614141000005\", read_point: \""+acmeDock+"\", biz_step: receiving, disposition: in_progress, dedupe_window: 1m}\n", 1)
	if y == string(b) {
		t.Fatal("could not add readers to the test accounts file")
	}
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, dir)
	epcis := h.watch("xd.out.acme.epcis.captured")
	rejected := h.watch("xd.out.acme.event.rejected")
	now := time.Now().UTC()

	t.Run("a configured reader's reads get its bizStep, disposition and window", func(t *testing.T) {
		h.sendReads("acme", "cfg-1", "dock-1", acmeDock, reads(now, 1))
		d := captured(t, next(t, epcis))
		if d["bizStep"] != "receiving" || d["disposition"] != "in_progress" {
			t.Errorf("event = %v, want bizStep receiving, disposition in_progress", d)
		}
		// 30 s later is inside the reader's 1m window: only tag 2 is new.
		h.sendReads("acme", "cfg-2", "dock-1", acmeDock, reads(now.Add(30*time.Second), 1, 2))
		if got := epcList(captured(t, next(t, epcis))); len(got) != 1 || got[0] != tagURI(2) {
			t.Errorf("epcList = %v, want only %s", got, tagURI(2))
		}
	})
	t.Run("a configured reader at another read point is refused", func(t *testing.T) {
		h.sendReads("acme", "cfg-3", "dock-1", acmeBackRoom, reads(now, 3))
		if e := dataOf(t, next(t, rejected))["errors"].([]any)[0].(map[string]any); e["code"] != "unknown_read_point" {
			t.Errorf("error = %v, want unknown_read_point", e)
		}
	})
	t.Run("a reader at another account's location is refused in the file", func(t *testing.T) {
		bad := strings.Replace(y, "location: \"0614141000005\", read_point", "location: \"0614141000029\", read_point", 1)
		if _, err := accounts.ParseFile([]byte(bad), accounts.DefaultTiers()); err == nil || !strings.Contains(err.Error(), "readers[0].location") {
			t.Errorf("ParseFile = %v, want an error naming readers[0].location", err)
		}
	})
}
