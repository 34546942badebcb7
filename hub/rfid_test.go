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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// Read points at acme's locations: the DC (GLN 0614141000005) has a dock,
// the store (GLN 0614141000012) a shelf.
const (
	acmeDock  = "urn:epc:id:sgln:0614141.00000.dock1"
	acmeShelf = "urn:epc:id:sgln:0614141.00001.shelf7"
)

// tag is the hex of an SGTIN-96 of the standard's example item with serial n.
func tag(n int) string {
	h, err := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(n)}.Hex()
	if err != nil {
		panic(err)
	}
	return h
}

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

// TestAnRFIDBatchIsHandedStraightToTheService: the router's lane hands an
// rfid.observed batch to the rfid service of its process (fused lanes), so
// a batch sent over HTTP or NATS is answered without a lane copy in
// XD_ROUTED, once.
func TestAnRFIDBatchIsHandedStraightToTheService(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	js, err := jetstream.New(h.connect("acme"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	answers := h.watch("xd.out.acme.epcis.captured")
	routed := h.count(bus.StreamRouted, ">")
	h.sendReads("acme", "fused-http", "r1", acmeDock, reads(at, 1, 2))
	ev := event.New()
	ev.SetID("fused-nats")
	ev.SetSource("/accounts/acme")
	ev.SetType("crossdock.rfid.observed.v1")
	_ = ev.SetData(event.ApplicationJSON, map[string]any{"reader": "r1", "read_point": acmeShelf, "reads": reads(at.Add(time.Minute), 3)})
	if _, err := js.PublishMsg(context.Background(), bus.Encode("xd.in.acme.rfid.observed", &ev), jetstream.WithMsgID("acme:fused-nats")); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"fused-http": true, "fused-nats": true}
	for len(want) > 0 {
		ev := next(t, answers)
		delete(want, fmt.Sprint(ev.Extensions()[bus.ExtCausationID]))
	}
	h.settled(bus.StreamIn, "router-priority")
	if n := h.count(bus.StreamRouted, ">") - routed; n != 0 {
		t.Errorf("XD_ROUTED stored %d batches, want none", n)
	}
	if n := h.count(bus.StreamOut, "xd.out.acme.epcis.captured"); n != 2 {
		t.Errorf("XD_OUT holds %d epcis.captured, want one per batch", n)
	}
}
