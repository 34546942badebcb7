package rfid

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

const accountsYAML = `warehouses:
  - {id: dc-east, api_keys: ["sha256:89574c5798cbc3a30379beb836d67fa516b9a99ec245f7467d18a504f46824e7"]}
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: ["sha256:d2d46cd50a6110d3e41f3a501e1469254eda0eea7709f2dae5b731a97311e269"]
    locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]
`

// process is one rfid process: its own connection, registry and service.
func process(t *testing.T, ctx context.Context, b *bus.Bus) *Service {
	t.Helper()
	reg := accountstest.Registry(t, b, accountsYAML)
	svc, err := New(ctx, Config{}, b, reg, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestTwoProcessesShareTheDedupeState runs two rfid services on one NATS
// server, sharing the lane consumers, and floods them with 20 batches of 500
// reads of 50 tags inside one window: the tracks' revision checks make them
// agree on exactly one observation per tag.
func TestTwoProcessesShareTheDedupeState(t *testing.T) {
	srv := bustest.RunServer(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pub *bus.Bus
	for range 2 {
		b := bustest.New(t, srv)
		pub = b
		svc := process(t, ctx, b)
		wg.Go(func() {
			if err := svc.Run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	// Registered after the buses' own clean-ups, so it runs before them:
	// the services stop before their connections close, which they would
	// otherwise report as a consumer that stopped taking messages.
	t.Cleanup(func() { cancel(); wg.Wait() })

	const batches, perBatch, tags = 20, 500, 50
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var outs []bus.Outgoing
	for i := range batches {
		reads := make([]Read, perBatch)
		for j := range reads {
			n := i*perBatch + j
			h, _ := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(n % tags)}.Hex()
			reads[j] = Read{EPC: h, Time: start.Add(time.Duration(n) * 400 * time.Microsecond)}
		}
		ev := event.New()
		ev.SetID(fmt.Sprintf("storm-%d", i))
		ev.SetSource("/accounts/acme")
		ev.SetType(typeObserved)
		ev.SetExtension(bus.ExtAccount, "acme")
		data, _ := json.Marshal(Observed{Reader: "r1", ReadPoint: "urn:epc:id:sgln:0614141.00000.dock", Reads: reads})
		_ = ev.SetData(event.ApplicationJSON, data)
		outs = append(outs, bus.Outgoing{Subject: "xd.routed.strategic.acme.rfid.observed", Event: &ev})
	}
	if _, err := pub.Publish(ctx, outs...); err != nil {
		t.Fatal(err)
	}

	bustest.Settled(t, pub, bus.StreamRouted, "rfid-priority", batches)
	seen := map[string]int{}
	for _, ev := range stored(t, pub, "xd.out.acme.epcis.captured") {
		var oe ObjectEvent
		if err := json.Unmarshal(ev.Data(), &oe); err != nil {
			t.Fatal(err)
		}
		for _, e := range oe.EPCList {
			seen[e]++
		}
	}
	if len(seen) != tags {
		t.Errorf("%d EPCs observed, want %d", len(seen), tags)
	}
	for e, n := range seen {
		if n != 1 {
			t.Errorf("%s observed %d times across both processes, want once", e, n)
		}
	}
}

// TestARedeliveredBatchGetsTheSameAnswer handles one batch twice, as after a
// crash between the KV writes and the publish: the second time must publish
// the same events (same ids, so JetStream stores them once), not nothing.
func TestARedeliveredBatchGetsTheSameAnswer(t *testing.T) {
	srv := bustest.RunServer(t, "")
	ctx := context.Background()
	svc := process(t, ctx, bustest.New(t, srv))
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	batch := func(id, readPoint string) *bus.Delivery {
		ev := event.New()
		ev.SetID(id)
		ev.SetSource("/accounts/acme")
		ev.SetType(typeObserved)
		ev.SetExtension(bus.ExtAccount, "acme")
		data, _ := json.Marshal(Observed{Reader: "r1", ReadPoint: readPoint, Reads: []Read{
			{EPC: "3074257BF7194E4000001A85", Time: at}, {EPC: "3574257BF7194E4000001A85", Time: at}}})
		_ = ev.SetData(event.ApplicationJSON, data)
		return &bus.Delivery{Event: &ev, Subject: "xd.routed.strategic.acme.rfid.observed", Attempt: 1}
	}
	if _, err := svc.Handle(ctx, batch("b1", "urn:epc:id:sgln:0614141.00000.dock")); err == nil {
		t.Fatal("a batch with a bad EPC: want a bad_epc rejection beside the outputs")
	}
	at = at.Add(time.Minute)
	first, err1 := svc.Handle(ctx, batch("b2", "urn:epc:id:sgln:0614141.00000.back"))
	again, err2 := svc.Handle(ctx, batch("b2", "urn:epc:id:sgln:0614141.00000.back"))
	if len(first) != 3 || len(again) != len(first) {
		t.Fatalf("first answer %d events, redelivery %d; want 3 (captured, location.changed, rejected) both times", len(first), len(again))
	}
	for i := range first {
		if first[i].Event.ID() != again[i].Event.ID() || first[i].Subject != again[i].Subject {
			t.Errorf("event %d: %s on %s, then %s on %s", i, first[i].Event.ID(), first[i].Subject, again[i].Event.ID(), again[i].Subject)
		}
	}
	for _, err := range []error{err1, err2} {
		if r, ok := bus.AsRejection(err); !ok || r.Code() != bus.CodeBadEPC || r.Problems[0].Field != "reads[1].epc" {
			t.Errorf("error = %v, want bad_epc at reads[1].epc", err)
		}
	}
}

// TestAnEPCInEitherCaseIsOneTag: readers differ in the case of their hex;
// the batch's grouping (by hex first, then by URI) must make one tag of
// both, and list a bad EPC at every read that carries it.
func TestAnEPCInEitherCaseIsOneTag(t *testing.T) {
	srv := bustest.RunServer(t, "")
	ctx := context.Background()
	svc := process(t, ctx, bustest.New(t, srv))
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	ev := event.New()
	ev.SetID("mixed")
	ev.SetSource("/accounts/acme")
	ev.SetType(typeObserved)
	ev.SetExtension(bus.ExtAccount, "acme")
	data, _ := json.Marshal(Observed{Reader: "r1", ReadPoint: "urn:epc:id:sgln:0614141.00000.dock", Reads: []Read{
		{EPC: "3074257BF7194E4000001A85", Time: at},
		{EPC: "3574257BF7194E4000001A85", Time: at},
		{EPC: "3074257bf7194e4000001a85", Time: at.Add(time.Second)},
		{EPC: "3574257BF7194E4000001A85", Time: at},
		{EPC: "3074257BF7194E4000001A85", Time: at.Add(2 * time.Second)},
	}})
	_ = ev.SetData(event.ApplicationJSON, data)
	outs, err := svc.Handle(ctx, &bus.Delivery{Event: &ev, Subject: "xd.routed.strategic.acme.rfid.observed", Attempt: 1})
	r, ok := bus.AsRejection(err)
	if !ok || len(r.Problems) != 2 || r.Problems[0].Field != "reads[1].epc" || r.Problems[1].Field != "reads[3].epc" {
		t.Fatalf("error = %v, want bad_epc at reads[1].epc and reads[3].epc", err)
	}
	if len(outs) != 2 {
		t.Fatalf("%d events, want captured and rejected", len(outs))
	}
	var oe ObjectEvent
	if err := json.Unmarshal(outs[0].Event.Data(), &oe); err != nil {
		t.Fatal(err)
	}
	if len(oe.EPCList) != 1 || oe.EPCList[0] != "urn:epc:id:sgtin:0614141.812345.6789" {
		t.Errorf("EPC list %v, want the one tag once", oe.EPCList)
	}
}

// TestBatchesHandledAtOnceInOneProcessDoNotConflict hands one process 16
// batches of one dock door at once, as the bus's workers take a reader's
// backlog: consecutive batches share most of their tags, and each of the
// 40 tags is new to several of them. Every tag is observed, and no track
// write conflicts (each batch steps a track from the write of the one
// before it, not from the revision it read before that write).
func TestBatchesHandledAtOnceInOneProcessDoNotConflict(t *testing.T) {
	srv := bustest.RunServer(t, "")
	ctx := context.Background()
	b := bustest.New(t, srv)
	reg := prometheus.NewRegistry()
	svc, err := New(ctx, Config{Metrics: reg}, b, accountstest.Registry(t, b, accountsYAML), bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	const batches, present, arrive = 16, 20, 2
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	observed := make([][]string, batches)
	for i := range batches {
		reads := make([]Read, 3*present)
		for j := range reads {
			h, _ := epc.EPC{Scheme: epc.SGTIN96, Filter: 1, CompanyPrefix: "0614141", Reference: "812345", Serial: fmt.Sprint(i*arrive + j%present)}.Hex()
			reads[j] = Read{EPC: h, Time: start.Add(time.Duration(i)*time.Second + time.Duration(j)*time.Millisecond)}
		}
		ev := event.New()
		ev.SetID(fmt.Sprintf("door-%d", i))
		ev.SetSource("/accounts/acme")
		ev.SetType(typeObserved)
		ev.SetExtension(bus.ExtAccount, "acme")
		data, _ := json.Marshal(Observed{Reader: "r1", ReadPoint: "urn:epc:id:sgln:0614141.00000.dock", Reads: reads})
		_ = ev.SetData(event.ApplicationJSON, data)
		wg.Go(func() {
			outs, err := svc.Handle(ctx, &bus.Delivery{Event: &ev, Subject: "xd.routed.strategic.acme.rfid.observed", Attempt: 1})
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
				return
			}
			for _, o := range outs {
				if o.Event.Type() != typeCaptured {
					continue
				}
				var oe ObjectEvent
				if err := json.Unmarshal(o.Event.Data(), &oe); err != nil {
					t.Error(err)
				}
				observed[i] = oe.EPCList
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, epcs := range observed {
		for _, e := range epcs {
			seen[e] = true
		}
	}
	if want := (batches-1)*arrive + present; len(seen) != want {
		t.Errorf("%d tags observed, want %d", len(seen), want)
	}
	writes := trackWrites(t, reg)
	if writes["conflict"] != 0 || writes["stored"] == 0 {
		t.Errorf("track writes %v, want some stored and no conflict", writes)
	}
}

// trackWrites reads crossdock_rfid_track_writes_total by outcome.
func trackWrites(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "crossdock_rfid_track_writes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}
