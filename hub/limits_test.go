package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// postOrder posts account's order id over HTTP and returns the status, the
// problem code (when refused) and the Retry-After header.
func (h *testHub) postOrder(account, id string, o order) (status int, code, retryAfter string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+"/v1/events", bytes.NewReader(orderEvent(account, id, o)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key(account))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("post %s: %v", id, err)
	}
	defer resp.Body.Close()
	var p struct {
		Type string `json:"type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p.Type, resp.Header.Get("Retry-After")
}

// streamState is what stream holds and its limit.
func (h *testHub) streamState(stream string) (held uint64, max int64) {
	h.t.Helper()
	st, err := h.bus.JetStream().Stream(context.Background(), stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Bytes, info.Config.MaxBytes
}

// TestAFloodStopsAtTheStreamLimit: a stable account floods the intake
// until XD_IN is at its limit (a few KiB here, --stream-max-bytes). The
// stream holds no more than its limit; the account is then refused clearly
// over HTTP (507 storage_full, Retry-After) and over NATS (JetStream's
// "maximum bytes exceeded", not an ack, not a timeout); every event
// accepted before is answered, none lost; and once the operator raises the
// limit (a restart with another --stream-max-bytes) intake works again.
func TestAFloodStopsAtTheStreamLimit(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	dir := t.TempDir()
	cfg := testConfig(t, dir, nil)
	cfg.StreamLimits = bus.StreamLimits{Streams: map[string]int64{bus.StreamIn: limit}}
	h := startConfig(t, cfg)

	var stored []string
	status, code, retry := 0, "", ""
	for i := 0; ; i++ {
		id := fmt.Sprint("U-", i)
		status, code, retry = h.postOrder("umbrella", id, order{PO: "FLOOD-" + id, ShipTo: stableDC, Units: []float64{500}})
		if status != http.StatusAccepted {
			break
		}
		stored = append(stored, id)
		if i > 1000 {
			t.Fatalf("XD_IN took %d orders and is not full", i)
		}
	}
	if status != http.StatusInsufficientStorage || code != "urn:crossdock:error:"+bus.CodeStorageFull || retry != "60" {
		t.Fatalf("umbrella's order past the limit: %d %s, Retry-After %q; want 507 storage_full, Retry-After 60", status, code, retry)
	}
	if len(stored) == 0 {
		t.Fatal("XD_IN took no order")
	}
	if held, max := h.streamState(bus.StreamIn); max != limit || held > limit {
		t.Errorf("XD_IN holds %d bytes, limit %d; want at most %d", held, max, limit)
	}

	ack, err := h.publishAs("umbrella", orderMsg(t, "umbrella", "U-NATS", order{PO: "FLOOD-NATS", ShipTo: stableDC, Units: []float64{500}}))
	var api *jetstream.APIError
	if ack != nil || !bus.StreamFull(err) || !errors.As(err, &api) || api.Code != http.StatusServiceUnavailable {
		t.Errorf("umbrella's order over NATS past the limit: ack %+v, %v; want JetStream's 503 maximum bytes exceeded", ack, err)
	}
	date := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	file := "po_number,ship_to,requested_date,gtin,quantity\nU-CSV," + stableDC + "," + date + ",00614141123452,500\n"
	if status, body := h.post("/v1/ingest/csv", key("umbrella"), "text/csv", []byte(file)); status != http.StatusInsufficientStorage || body["type"] != "urn:crossdock:error:"+bus.CodeStorageFull {
		t.Errorf("umbrella's CSV file past the limit: %d %v, want 507 storage_full", status, body)
	}
	// The intake is one stream: every sender is refused alike until there
	// is room (the quota bounds how fast one account can fill it).
	if status, code, _ := h.postOrder("acme", "A-1", order{PO: "ACME-FULL", ShipTo: dcEast, Units: []float64{1}}); status != http.StatusInsufficientStorage {
		t.Errorf("acme's order while XD_IN is full: %d %s, want 507", status, code)
	}

	// Nothing accepted is lost: each stored order is in XD_IN and answered.
	if n := h.count(bus.StreamIn, "xd.in.umbrella.order.placed"); n != uint64(len(stored)) {
		t.Errorf("XD_IN holds %d of umbrella's orders, want the %d accepted", n, len(stored))
	}
	bustest.CheckFor(t, 20*time.Second, func() error {
		// The refused HTTP orders reached their lane before XD_IN refused
		// them (docs/api.md: a 5xx is retried with the same id); those
		// may be answered too.
		if n := h.count(bus.StreamOut, "xd.out.umbrella.order.accepted"); n < uint64(len(stored)) {
			return fmt.Errorf("%d of %d orders accepted", n, len(stored))
		}
		return nil
	})

	h.stop()
	cfg.StreamLimits = bus.StreamLimits{Streams: map[string]int64{bus.StreamIn: 4 * limit}}
	h = startConfig(t, cfg)
	if _, max := h.streamState(bus.StreamIn); max != 4*limit {
		t.Errorf("XD_IN's limit after the restart: %d, want %d", max, 4*limit)
	}
	accepted := h.watch("xd.out.umbrella.order.accepted")
	if status, code, _ := h.postOrder("umbrella", "U-AGAIN", order{PO: "AGAIN-1", ShipTo: stableDC, Units: []float64{500}}); status != http.StatusAccepted {
		t.Fatalf("umbrella's order after the limit was raised: %d %s, want 202", status, code)
	}
	answers(t, accepted, "U-AGAIN")
	if ack, err := h.publishAs("umbrella", orderMsg(t, "umbrella", "U-NATS", order{PO: "FLOOD-NATS", ShipTo: stableDC, Units: []float64{500}})); err != nil || ack.Duplicate {
		t.Fatalf("umbrella's order over NATS after the limit was raised: %+v %v, want stored", ack, err)
	}
	answers(t, accepted, "U-NATS")
}

// TestTheDefaultLimitsFitASmallDisk: JetStream reserves every stream's
// limit, and the defaults (8 GiB) do not fit the storage of a small disk
// (2 GiB here). An embedded hub with no --stream-max-bytes scales them
// down and starts, rather than refusing as it did; limits the operator
// names are kept as named, and refused when they do not fit.
func TestTheDefaultLimitsFitASmallDisk(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), nil)
	cfg.NATSMaxStore = 2 << 30
	h := startConfig(t, cfg)
	var total int64
	for _, s := range []string{bus.StreamIn, bus.StreamRouted, bus.StreamOut, bus.StreamDLQ, bus.StreamRaw} {
		_, max := h.streamState(s)
		if max <= 0 {
			t.Fatalf("%s: MaxBytes %d, want a limit", s, max)
		}
		total += max
	}
	if total > 1<<30 {
		t.Errorf("the streams reserve %d bytes of 2 GiB, want at most half", total)
	}
	if _, in := h.streamState(bus.StreamIn); in >= bus.DefaultStreamMaxBytes {
		t.Errorf("XD_IN's limit %d, want it scaled below the default", in)
	}
	if status, _, _ := h.postOrder("acme", "small-disk-1", order{PO: "SMALL-1", ShipTo: acmeStore, Units: []float64{10}}); status != http.StatusAccepted {
		t.Errorf("an order on the small disk: %d, want 202", status)
	}

	named := testConfig(t, t.TempDir(), nil)
	named.NATSMaxStore = 2 << 30
	named.StreamLimits = bus.StreamLimits{Default: 1 << 30}
	if hub, err := Start(context.Background(), named, bustest.Logger(t)); err == nil {
		hub.Stop()
		_ = hub.Wait()
		t.Error("5 GiB of named limits on 2 GiB of storage started, want the refusal naming --stream-max-bytes")
	}
}
