package trace

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crossdock/crossdock/adapters/x12"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/delivery"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// byID finds the order an event id belongs to: an order.placed in XD_IN,
// or an event the hub made (XD_OUT) whose data names the order id or whose
// cause leads to one (an 856 → the customer's shipment → the warehouse's).
func (t *Tracer) byID(ctx context.Context, r *Result, q Query) ([]root, error) {
	since := t.now().Add(-q.Within)
	acct := "*"
	if q.Account != "" {
		acct = q.Account
	}
	id := q.ID
	for range 4 { // at most: document → shipment out → warehouse shipment → order
		isID := func(m *msg) bool { return m.id() == id }
		found, err := t.first(ctx, r, bus.StreamIn, []string{bus.InSubject(bus.Sender{Account: acct}, "order.placed")}, since, isID)
		if err != nil {
			return nil, err
		}
		if found != nil {
			var d struct {
				PO string `json:"po_number"`
			}
			_ = json.Unmarshal(found.payload(), &d)
			return t.byPO(ctx, strings.Split(found.subject, ".")[2], d.PO)
		}
		filters := []string{bus.OutSubject(acct, ">"), bus.WarehouseSubject("*", ">")}
		if acct == "*" {
			filters = []string{bus.AllOut, bus.AllWarehouses}
		}
		found, err = t.first(ctx, r, bus.StreamOut, filters, since, func(m *msg) bool { return m.get("ce-id") == id })
		if err != nil {
			return nil, err
		}
		if found == nil {
			// A warehouse's shipment in XD_IN names its order.
			found, err = t.first(ctx, r, bus.StreamIn, []string{bus.InSubject(bus.Sender{Warehouse: "*"}, "shipment.dispatched")}, since, isID)
			if err != nil {
				return nil, err
			}
		}
		if found == nil {
			return nil, nil
		}
		var d struct {
			OrderID string `json:"order_id"`
		}
		if json.Unmarshal(found.payload(), &d) == nil && d.OrderID != "" {
			return t.byOrderID(ctx, d.OrderID)
		}
		cause := found.get("ce-" + bus.ExtCausationID)
		if cause == "" {
			return nil, nil
		}
		id = cause
	}
	return nil, nil
}

// first is the first message on filters in stream, stored since then, that
// match accepts; nil when none is.
func (t *Tracer) first(ctx context.Context, r *Result, stream string, filters []string, since time.Time, match func(*msg) bool) (*msg, error) {
	var found *msg
	err := t.scan(ctx, r, stream, filters, since, time.Time{}, func(m *msg) bool {
		if match(m) {
			found = m
			return false
		}
		return true
	})
	return found, err
}

// byControl finds the orders of the X12 850s with an interchange (ISA13),
// group (GS06) or set (ST02) control number among the files in XD_RAW.
func (t *Tracer) byControl(ctx context.Context, r *Result, q Query) ([]root, error) {
	acct := "*"
	if q.Account != "" {
		acct = q.Account
	}
	type po struct{ account, number string }
	var pos []po
	err := t.scanFiles(ctx, r, []string{bus.RawSubject(bus.Sender{Account: acct}, x12.Format)}, t.now().Add(-q.Within), time.Time{}, func(m *msg) bool {
		ics, _ := x12.Read(m.data)
		for _, ic := range ics {
			for _, g := range ic.Groups {
				for _, s := range g.Sets {
					hit := (q.ISA != "" && trimZeros(ic.Control) == trimZeros(q.ISA)) ||
						(q.GS != "" && g.Control == q.GS) || (q.ST != "" && s.Control == q.ST)
					if hit && s.Type == "850" && beg03(s) != "" {
						pos = append(pos, po{strings.Split(m.subject, ".")[2], beg03(s)})
					}
				}
			}
		}
		return len(pos) < 50
	})
	if err != nil {
		return nil, err
	}
	var out []root
	seen := map[po]bool{}
	for _, p := range pos {
		if seen[p] {
			continue
		}
		seen[p] = true
		rs, err := t.byPO(ctx, p.account, p.number)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// trimZeros makes ISA13 "000000202" and "202" compare equal.
func trimZeros(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

// byEPC finds the EPCIS events that name an EPC (hex or URI) and, when it is
// an SSCC a warehouse shipped, that shipment's order with its whole chain.
func (t *Tracer) byEPC(ctx context.Context, r *Result, q Query, start time.Time) (*Result, error) {
	uri, err := epc.Normalize(q.EPC)
	if err != nil {
		return nil, fmt.Errorf("epc %q: %w", q.EPC, err)
	}
	since := t.now().Add(-q.Within)
	acct := "*"
	if q.Account != "" {
		acct = q.Account
	}
	var hits []*msg
	err = t.scan(ctx, r, bus.StreamOut, []string{bus.OutSubject(acct, "epcis.captured")}, since, time.Time{}, func(m *msg) bool {
		if strings.Contains(string(m.payload()), `"`+uri+`"`) {
			hits = append(hits, m)
		}
		return len(hits) < 1000
	})
	if err != nil {
		return nil, err
	}
	// An SSCC: the shipment that carried it.
	if m := ssccURI.FindStringSubmatch(uri); m != nil {
		digits := ssccDigits(m[1], m[2])
		var orderID string
		err = t.scan(ctx, r, bus.StreamIn, []string{bus.InSubject(bus.Sender{Warehouse: "*"}, "shipment.dispatched")}, since, time.Time{}, func(m *msg) bool {
			var d struct {
				OrderID string `json:"order_id"`
				SSCC    string `json:"sscc"`
			}
			if json.Unmarshal(m.payload(), &d) == nil && d.SSCC == digits && d.OrderID != "" {
				orderID = d.OrderID
				return false
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if orderID != "" {
			roots, err := t.byOrderID(ctx, orderID)
			if err != nil {
				return nil, err
			}
			for _, rt := range roots {
				c, err := t.chain(ctx, r, rt, q.Within)
				if err != nil {
					return nil, err
				}
				r.Chains = append(r.Chains, c)
			}
		}
	}
	if len(r.Chains) == 0 {
		if len(hits) == 0 {
			return nil, fmt.Errorf("trace epc=%s: %w", q.EPC, ErrNotFound)
		}
		var hops []Hop
		for _, m := range hits {
			hops = append(hops, epcisHop(m))
		}
		c := Chain{Account: strings.Split(hits[0].subject, ".")[2], Hops: ordered(hops)}
		t.deliveries(ctx, r, c.Hops, hits[0].time)
		r.Chains = append(r.Chains, c)
	}
	r.Took = t.now().Sub(start).Seconds()
	return r, nil
}

// deliveries fills in the webhook delivery of each outbound hop: past the
// endpoint's durable consumer's ack floor is delivered, a dead letter
// with the event's id is dead_lettered, the rest pending.
func (t *Tracer) deliveries(ctx context.Context, r *Result, hops []Hop, since time.Time) {
	floors := map[ownerIDs]uint64{}
	dead := map[string]*msg{}
	var dlqFilters []string
	for _, h := range hops {
		if h.Stream != bus.StreamOut {
			continue
		}
		ow := ownerOf(h.Subject)
		if _, ok := floors[ow]; ok {
			continue
		}
		floors[ow] = 0
		durable := "delivery-acct-" + ow.account
		dlq := bus.Sender{Account: ow.account}.DLQSubject(">")
		if ow.warehouse != "" {
			durable, dlq = "delivery-wh-"+ow.warehouse, bus.Sender{Warehouse: ow.warehouse}.DLQSubject(">")
		}
		dlqFilters = append(dlqFilters, dlq)
		if c, err := t.js.Consumer(ctx, bus.StreamOut, durable); err == nil {
			if ci, err := c.Info(ctx); err == nil {
				floors[ow] = ci.AckFloor.Stream
			}
		}
	}
	if len(dlqFilters) > 0 {
		_ = t.scan(ctx, r, bus.StreamDLQ, dlqFilters, since, time.Time{}, func(m *msg) bool {
			dead[m.get("ce-id")] = m
			return true
		})
	}
	for i := range hops {
		h := &hops[i]
		if h.Stream != bus.StreamOut {
			continue
		}
		ow := ownerOf(h.Subject)
		has, batched := t.web.Webhook(ow.account, ow.warehouse)
		switch {
		case !has:
			h.Delivery = &Delivery{State: "no_webhook"}
		case dead[h.EventID] != nil:
			d := dead[h.EventID]
			n := 0
			_, _ = fmt.Sscan(d.get(bus.HeaderDLQAttempts), &n)
			h.Delivery = &Delivery{State: "dead_lettered", Attempts: n, Response: d.get(delivery.HeaderDLQResponse), DLQSeq: d.seq}
		case batched:
			h.Delivery = &Delivery{State: "batched"}
		case floors[ow] >= h.Seq:
			h.Delivery = &Delivery{State: "delivered"}
		default:
			h.Delivery = &Delivery{State: "pending"}
		}
	}
}

type ownerIDs struct{ account, warehouse string }

// ownerOf is who receives an outbound subject: xd.out.<account>.… or
// xd.wh.<warehouse>.….
func ownerOf(subject string) ownerIDs {
	tok := strings.Split(subject, ".")
	if len(tok) < 3 {
		return ownerIDs{}
	}
	if tok[1] == "wh" {
		return ownerIDs{warehouse: tok[2]}
	}
	return ownerIDs{account: tok[2]}
}
