// Package trace follows one purchase order through the hub: the partner's
// raw file and its X12 control numbers (XD_RAW), the CloudEvent as it came
// in (XD_IN) and its lane (XD_ROUTED), the order's decision, the fulfilment
// request, the 855, the warehouse's shipment, the customer's shipment and its
// 856, the EPCIS events of the shipment's SSCC and of the SGTINs packed in it
// (XD_OUT), and the webhook delivery of each outbound event (the delivery
// consumer's position and XD_DLQ), with the time at every hop. The links are
// the ones the hub writes: causationid, the order id and the SSCC.
//
// Every read is a bounded scan: an ordered consumer filtered on the
// account's (or warehouse's) subjects, starting at a time near the order's
// intake, stopping at a window's end or after MaxScan messages, so that a
// trace costs the same on a busy hub as on a quiet one. GET
// /v1/admin/trace serves it; docs/console.md documents it.
package trace

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/x12"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/orders"
)

// ErrNotFound is returned when nothing matches the query within the window.
var ErrNotFound = errors.New("not found")

// Query says what to trace: one of PO, ID, EPC, ISA, GS or ST, with
// Account to narrow it (required for nothing, but a PO number is only
// unique within an account).
type Query struct {
	PO      string `json:"po,omitempty"`
	ID      string `json:"id,omitempty"`
	EPC     string `json:"epc,omitempty"`
	ISA     string `json:"isa,omitempty"`
	GS      string `json:"gs,omitempty"`
	ST      string `json:"st,omitempty"`
	Account string `json:"account,omitempty"`
	// Within bounds how far the scans look: after the order's intake for
	// its answers, before now for the searches by id, EPC and control
	// number. Zero means DefaultWithin.
	Within time.Duration `json:"-"`
}

// DefaultWithin is how far a trace looks when the query does not say: a
// week, the retention of XD_IN and XD_RAW.
const DefaultWithin = 7 * 24 * time.Hour

// MaxScan is the most messages one scan reads.
const MaxScan = 100_000

// Result is what a trace found.
type Result struct {
	Query   Query   `json:"query"`
	Chains  []Chain `json:"chains"`
	Scanned int     `json:"scanned"` // messages read, over every scan
	Took    float64 `json:"took_seconds"`
}

// Chain is one order's path through the hub (or, for an EPC that belongs
// to no shipment, its EPCIS events alone).
type Chain struct {
	Account   string `json:"account,omitempty"`
	PONumber  string `json:"po_number,omitempty"`
	OrderID   string `json:"order_id,omitempty"`
	State     string `json:"state,omitempty"`
	Warehouse string `json:"warehouse,omitempty"`
	Hops      []Hop  `json:"hops"`
}

// Hop is one step: a message stored in one of the hub's streams.
type Hop struct {
	Kind        string            `json:"kind"` // see the Kind constants
	Time        time.Time         `json:"time"` // when JetStream stored it
	Since       float64           `json:"since_previous_seconds"`
	Stream      string            `json:"stream"`
	Seq         uint64            `json:"seq"`
	Subject     string            `json:"subject"`
	EventID     string            `json:"event_id,omitempty"`
	Type        string            `json:"type,omitempty"`
	CausationID string            `json:"causation_id,omitempty"`
	Detail      map[string]string `json:"detail,omitempty"`
	Delivery    *Delivery         `json:"delivery,omitempty"`
}

// Hop kinds, in the order an order makes them.
const (
	KindRawFile     = "raw_file"     // the partner's file in XD_RAW, with its control numbers
	KindIntake      = "intake"       // the order.placed in XD_IN, with its channel
	KindLane        = "lane"         // the order.placed in its tier lane (XD_ROUTED)
	KindDecision    = "decision"     // order.accepted, order.held or order.rejected
	KindFulfillment = "fulfillment"  // fulfillment.requested to the warehouse
	KindEDI855      = "edi_855"      // the 855 answering the decision
	KindShipment    = "shipment"     // the warehouse's shipment.dispatched in XD_IN
	KindShipmentOut = "shipment_out" // the shipment.dispatched told to the customer
	KindEDI856      = "edi_856"      // the 856 of that shipment
	KindEPCIS       = "epcis"        // an epcis.captured of the SSCC or its SGTINs
)

// Delivery is the webhook delivery of an outbound hop.
type Delivery struct {
	// State is delivered (the endpoint's consumer is past it), pending,
	// dead_lettered (with its attempts and last response), batched (sent in
	// the account's digest) or no_webhook.
	State    string `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	Response string `json:"response,omitempty"`
	DLQSeq   uint64 `json:"dlq_seq,omitempty"`
}

// Webhooks tells the tracer how an account or warehouse receives its events.
type Webhooks interface {
	// Webhook reports whether it has a webhook and whether its delivery is
	// batched (a digest).
	Webhook(account, warehouse string) (has, batched bool)
	// Accounts lists the account ids, to find a PO without an account.
	Accounts() []string
}

// Tracer traces against a hub's JetStream.
type Tracer struct {
	js  jetstream.JetStream
	web Webhooks
	now func() time.Time
}

// New returns a Tracer; now nil means time.Now.
func New(js jetstream.JetStream, web Webhooks, now func() time.Time) *Tracer {
	if now == nil {
		now = time.Now
	}
	return &Tracer{js: js, web: web, now: now}
}

// Valid reports the first thing wrong with q.
func (q Query) Valid() error {
	n := 0
	for _, v := range []string{q.PO, q.ID, q.EPC, q.ISA, q.GS, q.ST} {
		if v != "" {
			n++
		}
		if len(v) > 128 || strings.ContainsAny(v, "*>\x00 \t\r\n") {
			return fmt.Errorf("%q: want at most 128 characters, no spaces or NATS wildcards", v)
		}
	}
	if n != 1 {
		return errors.New("name one of po, id, epc, isa, gs or st")
	}
	if q.Account != "" && !bus.ValidToken(q.Account) {
		return fmt.Errorf("account %q: want an account id", q.Account)
	}
	return nil
}

// Trace runs q.
func (t *Tracer) Trace(ctx context.Context, q Query) (*Result, error) {
	if err := q.Valid(); err != nil {
		return nil, err
	}
	if q.Within <= 0 {
		q.Within = DefaultWithin
	}
	start := t.now()
	r := &Result{Query: q, Chains: []Chain{}}
	var roots []root
	var err error
	switch {
	case q.PO != "":
		roots, err = t.byPO(ctx, q.Account, q.PO)
	case q.ID != "":
		roots, err = t.byID(ctx, r, q)
	case q.EPC != "":
		return t.byEPC(ctx, r, q, start)
	default:
		roots, err = t.byControl(ctx, r, q)
	}
	if err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("trace %s: %w", q.describe(), ErrNotFound)
	}
	for _, rt := range roots {
		c, err := t.chain(ctx, r, rt, q.Within)
		if err != nil {
			return nil, err
		}
		r.Chains = append(r.Chains, c)
	}
	r.Took = t.now().Sub(start).Seconds()
	return r, nil
}

func (q Query) describe() string {
	for _, kv := range [][2]string{{"po", q.PO}, {"id", q.ID}, {"epc", q.EPC}, {"isa", q.ISA}, {"gs", q.GS}, {"st", q.ST}} {
		if kv[1] != "" {
			return kv[0] + "=" + kv[1]
		}
	}
	return "?"
}

// root is an order found in the orders bucket.
type root struct {
	order orders.Order
}

// byPO reads the order from the orders bucket: in the account's key, or in
// each account's when the query names none.
func (t *Tracer) byPO(ctx context.Context, account, po string) ([]root, error) {
	kv, err := t.js.KeyValue(ctx, orders.Bucket)
	if err != nil {
		return nil, fmt.Errorf("orders bucket: %w", err)
	}
	ids := []string{account}
	if account == "" {
		ids = t.web.Accounts()
	}
	var out []root
	for _, a := range ids {
		e, err := kv.Get(ctx, "po."+a+"."+base64.RawURLEncoding.EncodeToString([]byte(po)))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("order %s of %s: %w", po, a, err)
		}
		var o orders.Order
		if err := json.Unmarshal(e.Value(), &o); err != nil {
			return nil, fmt.Errorf("order %s of %s: %w", po, a, err)
		}
		out = append(out, root{order: o})
	}
	return out, nil
}

// byOrderID reads an order by its order id (the bucket's id. index).
func (t *Tracer) byOrderID(ctx context.Context, orderID string) ([]root, error) {
	// Most order ids carry their PO: 16 hex digits, a dot, the PO in
	// base64url (orders.newOrderID); the bucket indexes the others.
	if hash, enc, ok := strings.Cut(orderID, "."); ok && len(hash) == 16 {
		if po, err := base64.RawURLEncoding.DecodeString(enc); err == nil {
			rs, err := t.byPO(ctx, "", string(po))
			if err != nil {
				return nil, err
			}
			var out []root
			for _, r := range rs {
				if r.order.OrderID == orderID {
					out = append(out, r)
				}
			}
			return out, nil
		}
	}
	kv, err := t.js.KeyValue(ctx, orders.Bucket)
	if err != nil {
		return nil, fmt.Errorf("orders bucket: %w", err)
	}
	e, err := kv.Get(ctx, "id."+orderID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", orderID, err)
	}
	k := strings.SplitN(string(e.Value()), ".", 3) // po.<account>.<base64 PO>
	if len(k) != 3 {
		return nil, fmt.Errorf("order %s: index %q", orderID, e.Value())
	}
	po, err := base64.RawURLEncoding.DecodeString(k[2])
	if err != nil {
		return nil, fmt.Errorf("order %s: index %q: %w", orderID, e.Value(), err)
	}
	return t.byPO(ctx, k[1], string(po))
}

// msg is a scanned message: what the links need of it.
type msg struct {
	stream  string
	seq     uint64
	subject string
	time    time.Time
	header  map[string][]string
	data    []byte
}

func (m *msg) get(h string) string {
	if v := m.header[h]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// id is the CloudEvent id: the ce-id header, or the structured event's id.
func (m *msg) id() string {
	if id := m.get("ce-id"); id != "" {
		return id
	}
	var ce struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(m.data, &ce)
	return ce.ID
}

// payload is the event's data: the body in binary mode, data in structured.
func (m *msg) payload() []byte {
	if m.get("ce-specversion") != "" {
		return m.data
	}
	var ce struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(m.data, &ce) == nil && len(ce.Data) > 0 {
		return ce.Data
	}
	return m.data
}

func (m *msg) hop(kind string) Hop {
	return Hop{Kind: kind, Time: m.time, Stream: m.stream, Seq: m.seq, Subject: m.subject,
		EventID: m.id(), Type: m.get("ce-type"), CausationID: m.get("ce-" + bus.ExtCausationID), Detail: map[string]string{}}
}

// scan reads stream on filters from `from` until `until` (zero: the end),
// at most MaxScan messages, calling fn until it returns false. It counts
// what it reads in r.
func (t *Tracer) scan(ctx context.Context, r *Result, stream string, filters []string, from, until time.Time, fn func(*msg) bool) error {
	read := 0
	return bus.Scan(ctx, t.js, stream, filters, bus.From{Time: from}, func(m jetstream.Msg, seq uint64) bool {
		read++
		r.Scanned++
		md, err := m.Metadata()
		if err != nil || (!until.IsZero() && md.Timestamp.After(until)) {
			return false
		}
		return fn(&msg{stream: stream, seq: seq, subject: m.Subject(), time: md.Timestamp, header: m.Headers(), data: m.Data()}) && read < MaxScan
	})
}

// chain gathers one order's hops.
func (t *Tracer) chain(ctx context.Context, r *Result, rt root, within time.Duration) (Chain, error) {
	o := rt.order
	c := Chain{Account: o.Account, PONumber: o.PONumber, OrderID: o.OrderID, State: o.State, Warehouse: o.Warehouse}
	if len(o.History) == 0 {
		return c, nil
	}
	t0 := o.History[0].At
	before, until := t0.Add(-10*time.Minute), t0.Add(within)
	var hops []Hop

	var fileID, channel string // the intake's causationid (the file it was made from) and channel
	err := t.scan(ctx, r, bus.StreamIn, []string{bus.InSubject(bus.Sender{Account: o.Account}, "order.placed")}, before, t0.Add(time.Minute), func(m *msg) bool {
		if m.id() != o.PlacedEventID {
			return true
		}
		h := m.hop(KindIntake)
		h.Type = "crossdock.order.placed.v1"
		channel = channelOf(m, o.Account)
		h.Detail["channel"] = channel
		fileID = h.CausationID
		hops = append(hops, h)
		return false
	})
	if err != nil {
		return c, err
	}
	// The partner's file: the one the intake names, in any format; for an
	// order made from an X12 file before events named their file, the last
	// X12 file with an 850 of the PO.
	if fileID != "" || channel == x12.Format {
		is850 := func(s *x12.Set) bool { return s.Type == "850" && beg03(s) == o.PONumber }
		var file *Hop
		err = t.scanFiles(ctx, r, []string{bus.RawSubject(bus.Sender{Account: o.Account}, "*")}, before, t0.Add(time.Minute), func(m *msg) bool {
			if fileID != "" {
				if m.fileID() != fileID {
					return true
				}
				h := fileHop(m, is850)
				file = &h
				return false
			}
			if h, ok := rawHop(m, is850); ok {
				file = &h
			}
			return true
		})
		if err != nil {
			return c, err
		}
		if file != nil {
			hops = append(hops, *file)
		}
	}
	err = t.scan(ctx, r, bus.StreamRouted, []string{bus.RoutedSubject("*", o.Account, "order.placed")}, before, t0.Add(time.Minute), func(m *msg) bool {
		if m.id() != o.PlacedEventID {
			return true
		}
		h := m.hop(KindLane)
		h.Type = "crossdock.order.placed.v1"
		h.Detail["tier"] = strings.Split(m.subject, ".")[2]
		hops = append(hops, h)
		return false
	})
	if err != nil {
		return c, err
	}

	// Everything the hub said about the order, in one scan of XD_OUT.
	filters := []string{
		bus.OutSubject(o.Account, "order.*"), bus.OutSubject(o.Account, "edi.document"),
		bus.OutSubject(o.Account, "shipment.dispatched"), bus.OutSubject(o.Account, "epcis.captured"),
	}
	if o.Warehouse != "" {
		filters = append(filters, bus.WarehouseSubject(o.Warehouse, "fulfillment.requested"))
	}
	var out []*msg
	err = t.scan(ctx, r, bus.StreamOut, filters, t0.Add(-time.Minute), until, func(m *msg) bool {
		out = append(out, m)
		return true
	})
	if err != nil {
		return c, err
	}
	// The warehouse's shipments of the order.
	var shipments []*msg
	if o.Warehouse != "" && o.OrderID != "" {
		err = t.scan(ctx, r, bus.StreamIn, []string{bus.InSubject(bus.Sender{Warehouse: "*"}, "shipment.dispatched")}, t0, until, func(m *msg) bool {
			var d struct {
				OrderID string `json:"order_id"`
			}
			if json.Unmarshal(m.payload(), &d) == nil && d.OrderID == o.OrderID {
				shipments = append(shipments, m)
			}
			return true
		})
		if err != nil {
			return c, err
		}
	}

	decisions := map[string]bool{}
	for _, m := range out {
		if m.get("ce-"+bus.ExtCausationID) != o.PlacedEventID {
			continue
		}
		switch {
		case strings.HasPrefix(m.subject, strings.TrimSuffix(bus.AllWarehouses, ">")):
			h := m.hop(KindFulfillment)
			h.Detail["warehouse"] = strings.Split(m.subject, ".")[2]
			hops = append(hops, h)
		case strings.Contains(m.subject, ".order."):
			h := m.hop(KindDecision)
			h.Detail["state"] = strings.TrimPrefix(bus.Name(h.Type), "order.")
			hops = append(hops, h)
			decisions[h.EventID] = true
		}
	}
	shipOut := map[string]string{} // the customer's shipment event id → shipment id
	var ssccs []string
	for _, s := range shipments {
		h := s.hop(KindShipment)
		var d struct {
			ShipmentID string `json:"shipment_id"`
			SSCC       string `json:"sscc"`
			Carrier    string `json:"carrier"`
		}
		_ = json.Unmarshal(s.payload(), &d)
		h.Type = "crossdock.shipment.dispatched.v1"
		h.Detail["shipment_id"] = d.ShipmentID
		h.Detail["warehouse"] = strings.Split(s.subject, ".")[3]
		if d.SSCC != "" {
			h.Detail["sscc"] = d.SSCC
			ssccs = append(ssccs, d.SSCC)
		}
		if d.Carrier != "" {
			h.Detail["carrier"] = d.Carrier
		}
		hops = append(hops, h)
		for _, m := range out {
			var od struct {
				ShipmentID string `json:"shipment_id"`
			}
			// The hub tells the customer the warehouse's shipment itself
			// (the same event): matched by shipment id.
			if !strings.HasSuffix(m.subject, ".shipment.dispatched") || json.Unmarshal(m.payload(), &od) != nil || od.ShipmentID != d.ShipmentID {
				continue
			}
			ho := m.hop(KindShipmentOut)
			ho.Detail["shipment_id"] = d.ShipmentID
			hops = append(hops, ho)
			shipOut[ho.EventID] = d.ShipmentID
		}
	}
	for _, m := range out {
		if !strings.HasSuffix(m.subject, ".edi.document") {
			continue
		}
		cause := m.get("ce-" + bus.ExtCausationID)
		kind := ""
		switch {
		case decisions[cause]:
			kind = KindEDI855
		case shipOut[cause] != "":
			kind = KindEDI856
		default:
			continue
		}
		h := m.hop(kind)
		h.Detail["format"] = m.get("ce-" + adapters.ExtFormat)
		h.Detail["for"] = m.get("ce-" + adapters.ExtFor)
		if ics, _ := x12.Read(m.data); len(ics) > 0 {
			h.Detail["isa"] = ics[0].Control
			if len(ics[0].Groups) > 0 {
				h.Detail["gs"] = ics[0].Groups[0].Control
				if len(ics[0].Groups[0].Sets) > 0 {
					h.Detail["st"] = ics[0].Groups[0].Sets[0].Control
				}
			}
		}
		hops = append(hops, h)
	}
	hops = append(hops, epcisHops(out, ssccs)...)
	t.deliveries(ctx, r, hops, t0)
	c.Hops = ordered(hops)
	return c, nil
}

var ssccURI = regexp.MustCompile(`urn:epc:id:sscc:([0-9]+)\.([0-9]+)`)
var anyEPC = regexp.MustCompile(`urn:epc:id:[a-z]+:[0-9A-Za-z.%\-_]+`)

// ssccDigits is the 18-digit SSCC of an SSCC pure identity URI's company
// prefix and serial reference (TDS §6.3.2: the extension digit leads the
// serial reference in the URI and the SSCC).
func ssccDigits(prefix, ref string) string {
	if len(ref) == 0 {
		return ""
	}
	body := ref[:1] + prefix + ref[1:]
	return gs1.Complete(body)
}

// epcisHops picks the EPCIS events that name one of the SSCCs, and those
// that name an EPC aggregated under them (the SGTINs packed in the case).
func epcisHops(out []*msg, ssccs []string) []Hop {
	if len(ssccs) == 0 {
		return nil
	}
	related := map[string]bool{}
	var hits []*msg
	isEPCIS := func(m *msg) bool { return strings.HasSuffix(m.subject, ".epcis.captured") }
	for _, m := range out {
		if !isEPCIS(m) {
			continue
		}
		for _, s := range ssccURI.FindAllStringSubmatch(string(m.payload()), -1) {
			if slices.Contains(ssccs, ssccDigits(s[1], s[2])) {
				hits = append(hits, m)
				for _, e := range anyEPC.FindAllString(string(m.payload()), -1) {
					related[e] = true
				}
				break
			}
		}
	}
	for _, m := range out {
		if !isEPCIS(m) || slices.Contains(hits, m) {
			continue
		}
		for _, e := range anyEPC.FindAllString(string(m.payload()), -1) {
			if related[e] && !strings.HasPrefix(e, "urn:epc:id:sgln:") {
				hits = append(hits, m)
				break
			}
		}
	}
	var hops []Hop
	for _, m := range hits {
		hops = append(hops, epcisHop(m))
	}
	return hops
}

func epcisHop(m *msg) Hop {
	h := m.hop(KindEPCIS)
	var d struct {
		Type      string   `json:"type"`
		Action    string   `json:"action"`
		BizStep   string   `json:"bizStep"`
		EPCList   []string `json:"epcList"`
		ParentID  string   `json:"parentID"`
		ReadPoint struct {
			ID string `json:"id"`
		} `json:"readPoint"`
	}
	_ = json.Unmarshal(m.payload(), &d)
	h.Detail["event_type"] = d.Type
	h.Detail["action"] = d.Action
	if d.BizStep != "" {
		h.Detail["biz_step"] = d.BizStep
	}
	if d.ReadPoint.ID != "" {
		h.Detail["read_point"] = d.ReadPoint.ID
	}
	if d.ParentID != "" {
		h.Detail["parent"] = d.ParentID
	}
	if len(d.EPCList) > 0 {
		h.Detail["epcs"] = strings.Join(d.EPCList, " ")
	}
	return h
}

// scanFiles is scan over XD_RAW, a file stored in parts (bus.FileMsgs)
// handed to fn once, whole, with the sequence and time of its last part.
func (t *Tracer) scanFiles(ctx context.Context, r *Result, filters []string, from, until time.Time, fn func(*msg) bool) error {
	var j bus.FileJoiner
	return t.scan(ctx, r, bus.StreamRaw, filters, from, until, func(m *msg) bool {
		whole, ok := j.Add(m.header, m.data)
		if !ok {
			return true
		}
		m.data = whole
		return fn(m)
	})
}

// fileID is a stored file's id, which the events made from it name as
// their causationid: the one the hub gave it, or the sender's own
// (Nats-Msg-Id without the sender's scope).
func (m *msg) fileID() string {
	if id := m.get(bus.HeaderFileID); id != "" {
		return id
	}
	_, own, _ := strings.Cut(m.get("Nats-Msg-Id"), ":")
	return own
}

// fileHop is the hop of a partner's file: for an X12 file, rawHop's of
// the set match accepts when it has one; for any file, its format, size, id
// and how it came: over NATS, or decoded at the HTTP door (api, portal).
func fileHop(m *msg, match func(*x12.Set) bool) Hop {
	format := m.subject[strings.LastIndexByte(m.subject, '.')+1:]
	if format == x12.Format {
		if h, ok := rawHop(m, match); ok {
			return h
		}
	}
	return plainFileHop(m)
}

// plainFileHop is the hop of a file with what every format has: its format,
// size, id, parts, and how it came.
func plainFileHop(m *msg) Hop {
	format := m.subject[strings.LastIndexByte(m.subject, '.')+1:]
	h := Hop{Kind: KindRawFile, Time: m.time, Stream: m.stream, Seq: m.seq, Subject: m.subject, EventID: m.fileID(),
		Detail: map[string]string{"format": format, "bytes": strconv.Itoa(len(m.data)), "channel": bus.ChannelNATS}}
	if door := m.get(bus.HeaderFileDecoded); door != "" {
		h.Detail["channel"] = door
	}
	if p := m.get(bus.HeaderFilePart); p != "" {
		_, n, _ := strings.Cut(p, "/")
		h.Detail["parts"] = n
	}
	return h
}

// rawHop returns the hop of a raw X12 file holding a set that match
// accepts, with the interchange's, group's and set's control numbers.
func rawHop(m *msg, match func(*x12.Set) bool) (Hop, bool) {
	ics, _ := x12.Read(m.data)
	for _, ic := range ics {
		for _, g := range ic.Groups {
			for _, s := range g.Sets {
				if !match(s) {
					continue
				}
				h := plainFileHop(m)
				maps.Copy(h.Detail, map[string]string{
					"isa": ic.Control, "gs": g.Control, "st": s.Control, "set": s.Type, "sender": ic.Sender, "receiver": ic.Receiver,
				})
				if po := beg03(s); po != "" {
					h.Detail["po_number"] = po
				}
				return h, true
			}
		}
	}
	return Hop{}, false
}

// beg03 is an 850's PO number.
func beg03(s *x12.Set) string {
	for _, seg := range s.Segments {
		if seg.ID() == "BEG" {
			return seg.E(3)
		}
	}
	return ""
}

// channelOf tells how an intake came in: its channel extension (api,
// portal, a file's format), or nats without one.
func channelOf(m *msg, _ string) string {
	c := m.get("ce-" + bus.ExtChannel)
	if m.get("ce-specversion") == "" {
		var ce struct {
			Channel string `json:"channel"`
		}
		_ = json.Unmarshal(m.data, &ce)
		c = ce.Channel
	}
	if c == "" {
		return bus.ChannelNATS
	}
	return c
}

// ordered sorts hops by time and sets the time since the previous one.
func ordered(hops []Hop) []Hop {
	slices.SortStableFunc(hops, func(a, b Hop) int { return a.Time.Compare(b.Time) })
	for i := range hops {
		if i > 0 {
			hops[i].Since = hops[i].Time.Sub(hops[i-1].Time).Seconds()
		}
	}
	if hops == nil {
		hops = []Hop{}
	}
	return hops
}
