package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// partnerCSV is a CSV file of n one-line orders to ship-to, each for one
// unit, requested 30 days ahead.
func partnerCSV(n int, shipTo string) []byte {
	date := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	var b bytes.Buffer
	b.WriteString("po_number,ship_to,requested_date,gtin,quantity\n")
	for i := range n {
		fmt.Fprintf(&b, "F-%d,%s,%s,00614141123452,1\n", i, shipTo, date)
	}
	return b.Bytes()
}

// TestALargePartnerFileIsStoredWhileOthersOrder posts a CSV of 50,000
// orders (2.4 MB), far more than the connection's window of unacknowledged
// publishes (16,384), and meanwhile another account orders over HTTP. The
// file must be taken whole (202, every order stored once), and the other
// account's orders accepted and answered while it is: the file's events are
// stored in windows of gateway.FileWindow, each acknowledged before the
// next, rather than all at once, which filled the connection's window and
// answered the file 503 (smaller files, 20,000 orders, passed).
func TestALargePartnerFileIsStoredWhileOthersOrder(t *testing.T) {
	const orders = 50_000
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A partner that sends large files has the quota for them.
	y = bytes.Replace(y, []byte("policy: {order_days: all}"),
		[]byte("policy: {order_days: all, quota: {events_per_second: 10000, bytes_per_second: 8388608, burst_seconds: 10}}"), 1)
	if err := os.WriteFile(filepath.Join(dir, "accounts.yaml"), y, 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHubAt(t, dir, nil)
	file := partnerCSV(orders, stableDC)

	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.base+"/v1/ingest/csv", bytes.NewReader(file))
		req.Header.Set("Authorization", "Bearer "+key("umbrella"))
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.status = resp.StatusCode
		a.err = json.NewDecoder(resp.Body).Decode(&a.body)
		done <- a
	}()

	// acme orders while the file is taken, and at least once.
	var sent int
	var file202 answer
	for waiting := true; waiting; {
		select {
		case file202 = <-done:
			waiting = false
		default:
		}
		h.sendOrder("acme", fmt.Sprintf("during-file-%d", sent), order{PO: fmt.Sprintf("D-%d", sent), ShipTo: dcEast, Units: []float64{1}})
		sent++
	}
	if file202.err != nil {
		t.Fatal(file202.err)
	}
	if file202.status != http.StatusAccepted {
		t.Fatalf("POST /v1/ingest/csv of %d orders (%d bytes) = %d %.300v", orders, len(file), file202.status, file202.body)
	}
	if ids, _ := file202.body["accepted"].([]any); len(ids) != orders {
		t.Fatalf("accepted %d ids, want %d", len(ids), orders)
	}
	if n := h.count(bus.StreamIn, "xd.in.umbrella.order.placed"); n != orders {
		t.Errorf("XD_IN holds %d of the file's orders, want %d", n, orders)
	}
	t.Logf("%d acme orders accepted while the file of %d orders (%d bytes) was taken", sent, orders, len(file))
	// The file's orders go on through the stable tier's lanes at the
	// hub's pace (about a minute for all of them on a loaded 2-core
	// machine, too long for this test); acme's must all be answered.
	bustest.CheckFor(t, time.Minute, func() error {
		if n := h.count(bus.StreamOut, "xd.out.acme.order.*"); n < uint64(sent) {
			return fmt.Errorf("%d of acme's %d orders answered", n, sent)
		}
		return nil
	})
}
