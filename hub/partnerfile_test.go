package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/crossdock/crossdock/adapters/adaptertest"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

// startPartnerHub starts a hub where umbrella, a stable account, has the
// quota of a partner that sends large files (a file's events count against
// it, and a 50,000-order file is over any tier's default burst).
func startPartnerHub(t testing.TB) *testHub {
	t.Helper()
	dir := t.TempDir()
	path := writeAccounts(t, dir, nil)
	y, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	y = bytes.Replace(y, []byte("policy: {order_days: all}"),
		[]byte("policy: {order_days: all, quota: {events_per_second: 20000, bytes_per_second: 8388608, burst_seconds: 10}}"), 1)
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	return startHubAt(t, dir, nil)
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
	t.Parallel()
	const orders = 50_000
	h := startPartnerHub(t)
	file := adaptertest.CSVOrders("F", orders, 1, stableDC, time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly))

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

// BenchmarkPartnerFiles posts the partner files of the performance target
// over HTTP: a CSV of 50,000 one-line orders (2.8 MB) and an X12 852 of
// 100,000 segments (645 weekly reports of 50 products, 1.7 MB). MB/s is
// from the POST to the 202 (every event stored in XD_IN); for the CSV,
// answered-orders/s also waits until every order is answered on xd.out.
// Each iteration sends new orders and reports. Run with -benchtime 1x.
func BenchmarkPartnerFiles(b *testing.B) {
	b.Run("csv-50000-orders", func(b *testing.B) {
		h := startPartnerHub(b)
		requested := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
		start := time.Now()
		for i := 0; b.Loop(); i++ {
			file := adaptertest.CSVOrders(fmt.Sprintf("F%d", i), 50_000, 1, stableDC, requested)
			b.SetBytes(int64(len(file)))
			postFile(b, h, "csv", file, 50_000)
		}
		b.StopTimer()
		orders := uint64(b.N) * 50_000
		bustest.CheckFor(b, 15*time.Minute, func() error {
			if n := h.count(bus.StreamOut, "xd.out.umbrella.order.*"); n < orders {
				return fmt.Errorf("%d of %d orders answered", n, orders)
			}
			return nil
		})
		b.ReportMetric(float64(orders)/time.Since(start).Seconds(), "answered-orders/s")
	})
	b.Run("x12-852-100000-segments", func(b *testing.B) {
		h := startPartnerHub(b)
		for i := 0; b.Loop(); i++ {
			file := adaptertest.X12Inventory(100_000, 50, stableShop, time.Date(1980, 1, 7, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*650*i))
			b.SetBytes(int64(len(file)))
			postFile(b, h, "x12", file, 645)
		}
	})
}

// postFile posts a file as umbrella and requires a 202 with want ids.
func postFile(b *testing.B, h *testHub, format string, file []byte, want int) {
	b.Helper()
	status, body := h.post("/v1/ingest/"+format, key("umbrella"), "", file)
	if status != http.StatusAccepted {
		b.Fatalf("POST /v1/ingest/%s (%d bytes) = %d %.500v", format, len(file), status, body)
	}
	if ids, _ := body["accepted"].([]any); len(ids) != want {
		b.Fatalf("accepted %d ids, want %d", len(ids), want)
	}
}
