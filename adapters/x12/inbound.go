package x12

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/problem"
)

// decode850 reads a purchase order: BEG03 the PO number, N1 ST (UL) the
// ship-to GLN, DTM 002 (delivery requested) the requested date, one line per
// PO1 (PO101 line number, PO102 quantity, PO103 unit, a GTIN among the
// product ids). CTT01, when present, must count the PO1 segments. The event
// id derives from the PO number, so a retransmission under new control
// numbers is still the same order.
func decode850(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	p := &problems{s: s}
	var o adapters.Order
	beg, ok := find(s.Segments, "BEG")
	switch {
	case !ok:
		p.missing("no BEG segment: the PO number is in BEG03")
	case beg.E(1) != "00":
		p.add(beg, 1, "purpose %q: the hub takes original orders (BEG01 00); changes and cancellations are not read", beg.E(1))
	case beg.E(3) == "":
		p.add(beg, 3, "the PO number (BEG03) is empty")
	default:
		o.PONumber = beg.E(3)
	}
	o.ShipTo, _ = glnParty(p, s.Segments, "ship-to location", "ST")
	for _, seg := range s.Segments {
		if seg.ID() == "DTM" && seg.E(1) == "002" {
			if d, ok := date(p, seg, 2); ok {
				o.RequestedDate = d.Format(time.DateOnly)
			}
			break
		}
	}
	if o.RequestedDate == "" && len(p.ps) == 0 {
		p.missing("no DTM 002 (delivery requested) segment: the hub needs the requested date")
	}
	n := 0
	for _, seg := range s.Segments {
		if seg.ID() == "PO1" {
			n++
		}
	}
	// The lines live until the event's JSON is written; their room is
	// reused for the next order.
	lines := linePool.Get().(*[]adapters.OrderLine)
	defer linePool.Put(lines)
	o.Lines = slices.Grow((*lines)[:0], n)
	var dups lineSet
	for _, seg := range s.Segments {
		switch seg.ID() {
		case "PO1":
			l := adapters.OrderLine{Line: len(o.Lines) + 1}
			if n := seg.E(1); n != "" {
				v, err := strconv.Atoi(n)
				if err != nil || v < 1 {
					p.add(seg, 1, "%q is not a line number", n)
				}
				l.Line = v
			}
			if dups.add(l.Line, o.Lines) {
				p.add(seg, 1, "line %d appears twice", l.Line)
			}
			l.Quantity = quantity(p, seg, 2)
			l.Unit = unitOf(p, seg, 3)
			if err := adapters.CheckWhole(l.Quantity, l.Unit); err != nil {
				p.add(seg, 2, "%v", err)
			}
			l.GTIN, _ = productGTIN(p, seg, 6)
			o.Lines = append(o.Lines, l)
		case "CTT":
			if n, err := strconv.Atoi(seg.E(1)); err != nil || n != len(o.Lines) {
				p.add(seg, 1, "CTT01 says %s line items, the set has %d PO1 segments", seg.E(1), len(o.Lines))
			}
		}
	}
	if len(o.Lines) == 0 {
		p.missing("no PO1 segment: an order needs at least one line")
	}
	if len(p.ps) > 0 {
		return nil, p.ps
	}
	ev, err := adapters.NewEvent(Format, in, in.Account, typeOrder, "po/"+o.PONumber, o)
	*lines = o.Lines
	if err != nil {
		return nil, []problem.Problem{{Code: problem.CodeParseError, Field: "ST " + s.Control, Message: err.Error()}}
	}
	return ev, nil
}

// linePool holds the line lists of 850s being decoded: an order's lines are
// written into its event's JSON, then no longer needed.
var linePool = sync.Pool{New: func() any { return new([]adapters.OrderLine) }}

// lineSet tells whether an order's line number came before. Partners number
// lines upwards, so a number above every earlier one is new without a look-up;
// the set only builds a map from the first number that is not.
type lineSet struct {
	top  int          // the last number, while each was above the one before
	seen map[int]bool // every number so far, once one was not
}

// add adds line and says whether it was there already. before are the
// lines added so far (their Line fields).
func (s *lineSet) add(line int, before []adapters.OrderLine) bool {
	if s.seen == nil {
		if len(before) == 0 || line > s.top {
			s.top = line
			return false
		}
		s.seen = make(map[int]bool, 2*len(before))
		for _, l := range before {
			s.seen[l.Line] = true
		}
	}
	dup := s.seen[line]
	s.seen[line] = true
	return dup
}

type item struct {
	GTIN     string `json:"gtin"`
	OnHand   int    `json:"on_hand"`
	OnOrder  *int   `json:"on_order,omitempty"`
	SoldLast *int   `json:"sold_since_last,omitempty"`

	seg     Segment
	hasHand bool
}

type inventory struct {
	Location string  `json:"location"`
	AsOf     string  `json:"as_of"`
	Items    []*item `json:"items"`
}

// AppendJSON appends inv as encoding/json.Marshal writes it: an 852 of
// many items spent a fifth of its decode in encoding/json's reflection.
func (inv inventory) AppendJSON(b []byte) []byte {
	b = append(b, `{"location":`...)
	b = adapters.AppendJSONString(b, inv.Location)
	b = append(b, `,"as_of":`...)
	b = adapters.AppendJSONString(b, inv.AsOf)
	b = append(b, `,"items":`...)
	if inv.Items == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i, it := range inv.Items {
		if i > 0 {
			b = append(b, ',')
		}
		if it == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, `{"gtin":`...)
		b = adapters.AppendJSONString(b, it.GTIN)
		b = append(b, `,"on_hand":`...)
		b = strconv.AppendInt(b, int64(it.OnHand), 10)
		if it.OnOrder != nil {
			b = append(b, `,"on_order":`...)
			b = strconv.AppendInt(b, int64(*it.OnOrder), 10)
		}
		if it.SoldLast != nil {
			b = append(b, `,"sold_since_last":`...)
			b = strconv.AppendInt(b, int64(*it.SoldLast), 10)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// items hands out a report's items from one allocation.
type items []item

func newItems(n int) *items { all := make(items, 0, n); return &all }

// next returns a new zero item, from the room made for the report's LIN
// segments while it lasts.
func (it *items) next() *item {
	if len(*it) == cap(*it) {
		return new(item)
	}
	*it = (*it)[:len(*it)+1]
	return &(*it)[len(*it)-1]
}

// countID counts the segments with id id.
func countID(segs []Segment, id string) int {
	n := 0
	for _, seg := range segs {
		if seg.ID() == id {
			n++
		}
	}
	return n
}

// addQty adds n to *f, allocating it.
func addQty(f **int, n int) {
	if *f == nil {
		*f = new(int)
	}
	**f += n
}

// inventoryEvent finishes an inventory report: every item has an on-hand
// quantity, each GTIN once.
func inventoryEvent(p *problems, s *Set, in adapters.Input, inv inventory, key string) (*event.Event, []problem.Problem) {
	seen := make(map[string]bool, len(inv.Items))
	for _, it := range inv.Items {
		if !it.hasHand && it.GTIN != "" {
			p.add(it.seg, 0, "item %s has no on-hand quantity", it.GTIN)
		}
		if seen[it.GTIN] && it.GTIN != "" {
			p.add(it.seg, 0, "item %s is reported twice", it.GTIN)
		}
		seen[it.GTIN] = true
	}
	if len(inv.Items) == 0 {
		p.missing("no LIN segment: the report has no items")
	}
	if len(p.ps) > 0 {
		return nil, p.ps
	}
	ev, err := adapters.NewEvent(Format, in, in.Account, typeInventory, key, inv)
	if err != nil {
		return nil, []problem.Problem{{Code: problem.CodeParseError, Field: "ST " + s.Control, Message: err.Error()}}
	}
	return ev, nil
}

// decode852 reads product activity: XQ the reporting period (as_of is the end
// of its last day, UTC), N1 ST or RL (UL) the location, per LIN a GTIN and ZA
// quantities: QA on hand, QS sold, QO on order (the sum when one repeats).
// The id derives from location and period.
func decode852(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	p := &problems{s: s}
	inv := inventory{Items: make([]*item, 0, countID(s.Segments, "LIN"))}
	items := newItems(cap(inv.Items))
	inv.Location, _ = glnParty(p, s.Segments, "reporting location", "ST", "RL")
	onlyOne(p, s, "N1", 1, func(seg Segment) bool { return seg.E(1) == "ST" || seg.E(1) == "RL" },
		"the report names several locations; the hub takes one location per 852 (inventory.reported is per location)")
	if xq, ok := find(s.Segments, "XQ"); !ok {
		p.missing("no XQ segment: the hub needs the reporting period")
	} else {
		end := 3
		if xq.E(3) == "" {
			end = 2
		}
		if d, ok := date(p, xq, end); ok {
			inv.AsOf = d.Add(24*time.Hour - time.Second).Format(time.RFC3339)
		}
	}
	var cur *item
	for _, seg := range s.Segments {
		switch seg.ID() {
		case "LIN":
			cur = items.next()
			cur.seg = seg
			cur.GTIN, _ = productGTIN(p, seg, 2)
			inv.Items = append(inv.Items, cur)
		case "ZA":
			if cur == nil {
				p.add(seg, 0, "ZA before any LIN")
				continue
			}
			n := count(p, seg, 2)
			switch seg.E(1) {
			case "QA":
				cur.OnHand += n
				cur.hasHand = true
			case "QS":
				addQty(&cur.SoldLast, n)
			case "QO":
				addQty(&cur.OnOrder, n)
			}
		}
	}
	return inventoryEvent(p, s, in, inv, fmt.Sprintf("852/%s/%s", inv.Location, inv.AsOf))
}

// decode846 reads an inventory advice: BIA04 (and BIA05) when the stock was
// counted, N1 (UL) the location (entity ST, WH or RL), per LIN a GTIN and
// QTY 17 (quantity on hand) or 33 (available for sale) as on hand; other QTY
// qualifiers are not read.
// The id derives from BIA03, the report's reference.
func decode846(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	p := &problems{s: s}
	inv := inventory{Items: make([]*item, 0, countID(s.Segments, "LIN"))}
	items := newItems(cap(inv.Items))
	inv.Location, _ = glnParty(p, s.Segments, "location", "ST", "WH", "RL")
	bia, ok := find(s.Segments, "BIA")
	if !ok {
		p.missing("no BIA segment: the hub needs the report's date (BIA04)")
	} else if d, ok := date(p, bia, 4); ok {
		if t := bia.E(5); len(t) >= 4 {
			if tt, err := time.Parse("1504", t[:4]); err == nil {
				d = d.Add(time.Duration(tt.Hour())*time.Hour + time.Duration(tt.Minute())*time.Minute)
			}
		}
		inv.AsOf = d.Format(time.RFC3339)
	}
	var cur *item
	for _, seg := range s.Segments {
		switch seg.ID() {
		case "LIN":
			cur = items.next()
			cur.seg = seg
			cur.GTIN, _ = productGTIN(p, seg, 2)
			inv.Items = append(inv.Items, cur)
		case "QTY":
			if cur == nil || (seg.E(1) != "17" && seg.E(1) != "33") {
				continue
			}
			if cur.hasHand {
				continue // 17 and 33 both given: the first wins
			}
			cur.OnHand = count(p, seg, 2)
			cur.hasHand = true
		}
	}
	return inventoryEvent(p, s, in, inv, "846/"+bia.E(3)+"/"+inv.Location+"/"+inv.AsOf)
}

type shipLine struct {
	Line     int     `json:"line,omitempty"`
	GTIN     string  `json:"gtin"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit,omitempty"`
}

type shipment struct {
	ShipmentID string     `json:"shipment_id"`
	OrderID    string     `json:"order_id"`
	Lines      []shipLine `json:"lines"`
	Carrier    string     `json:"carrier,omitempty"`
	SSCC       string     `json:"sscc,omitempty"`
}

// decode856 reads a warehouse's ship notice: BSN02 the shipment id, REF OQ
// (order number) the hub's order_id as the warehouse got it in
// fulfillment.requested (else PRF01, when the order_id fits there), TD5
// the carrier (TD503 SCAC, else TD505), MAN GM the SSCC when there is one, per
// item LIN (GTIN) and SN1 (SN102 quantity, SN103 unit). The account is the
// sender's, or the one owning the N1 ST (UL) ship-to. The id derives from
// BSN02.
func decode856(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	p := &problems{s: s}
	var sh shipment
	bsn, ok := find(s.Segments, "BSN")
	if !ok || bsn.E(2) == "" {
		p.missing("no BSN02: the hub needs the shipment id")
	} else {
		sh.ShipmentID = bsn.E(2)
	}
	account := in.Account
	if account == "" {
		shipTo, ok := glnParty(p, s.Segments, "ship-to location", "ST")
		if ok {
			if in.AccountOf == nil {
				p.missing("the ship-to " + shipTo + " cannot be looked up: name the account the shipment is for")
			} else if account, ok = in.AccountOf(shipTo); !ok {
				for _, seg := range s.Segments {
					if seg.ID() == "N1" && seg.E(1) == "ST" {
						p.add(seg, 4, "ship-to %s is not a location of any account", shipTo)
						break
					}
				}
			}
		}
	}
	onlyOne(p, s, "HL", 3, func(seg Segment) bool { return seg.E(3) == "O" },
		"the ship notice has several order levels (HL03 O); the hub takes one order per 856 (shipment.dispatched answers one order)")
	var prf string
	var cur *shipLine
	var ssccs []string
	for _, seg := range s.Segments {
		switch seg.ID() {
		case "REF":
			if seg.E(1) == "OQ" && sh.OrderID == "" {
				sh.OrderID = seg.E(2)
			}
		case "PRF":
			if prf == "" {
				prf = seg.E(1)
			}
		case "TD5":
			if sh.Carrier == "" {
				sh.Carrier = seg.E(3)
				if sh.Carrier == "" {
					sh.Carrier = seg.E(5)
				}
			}
		case "MAN":
			if seg.E(1) == "GM" {
				ssccs = append(ssccs, seg.E(2))
			}
		case "LIN":
			sh.Lines = append(sh.Lines, shipLine{})
			cur = &sh.Lines[len(sh.Lines)-1]
			if n, err := strconv.Atoi(seg.E(1)); err == nil && n > 0 {
				cur.Line = n
			}
			cur.GTIN, _ = productGTIN(p, seg, 2)
		case "SN1":
			if cur == nil {
				p.add(seg, 0, "SN1 before any LIN")
				continue
			}
			cur.Quantity = quantity(p, seg, 2)
			cur.Unit = unitOf(p, seg, 3)
		}
	}
	if sh.OrderID == "" {
		sh.OrderID = prf
	}
	if sh.OrderID == "" {
		p.missing("no REF OQ or PRF01: the hub needs the order_id the shipment answers")
	}
	if len(ssccs) == 1 && len(ssccs[0]) == 18 {
		sh.SSCC = ssccs[0]
	}
	for i, l := range sh.Lines {
		if l.Quantity == 0 && l.GTIN != "" {
			p.missing(fmt.Sprintf("item %d (%s) has no SN1 quantity", i+1, l.GTIN))
		}
	}
	if len(sh.Lines) == 0 {
		p.missing("no LIN segment: the shipment has no items")
	}
	if len(p.ps) > 0 {
		return nil, p.ps
	}
	ev, err := adapters.NewEvent(Format, in, account, typeShipment, "856/"+sh.ShipmentID, sh)
	if err != nil {
		return nil, []problem.Problem{{Code: problem.CodeParseError, Field: "ST " + s.Control, Message: err.Error()}}
	}
	return ev, nil
}

// onlyOne reports the second segment id that matches, with why.
func onlyOne(p *problems, s *Set, id string, element int, match func(Segment) bool, why string) {
	n := 0
	for _, seg := range s.Segments {
		if seg.ID() == id && match(seg) {
			if n++; n == 2 {
				p.add(seg, element, "%s", why)
				return
			}
		}
	}
}
