package x12

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

// writer builds an interchange with the hub's default delimiters: * between
// elements, > between components, ~ after each segment, then a newline so the
// file is readable in an editor.
type writer struct {
	b     strings.Builder
	count int // segments of the current set
}

func (w *writer) seg(els ...string) {
	// Trailing empty elements are left out, as X12.6 asks.
	for len(els) > 1 && els[len(els)-1] == "" {
		els = els[:len(els)-1]
	}
	w.b.WriteString(strings.Join(els, "*"))
	w.b.WriteString("~\n")
	w.count++
}

// clean keeps a value from breaking the envelope: separators become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '*', '~', '>', '^', '\n', '\r':
			return ' '
		}
		return r
	}, s)
}

func pad(s string, n int) string {
	s = clean(s)
	if len(s) > n {
		return s[:n]
	}
	return s + strings.Repeat(" ", n-len(s))
}

// envelope writes ISA and GS around sets, which write their own ST … SE.
type envelope struct {
	w        *writer
	sender   string
	receiver string
	recvQual string // ISA07; empty means ZZ (mutually defined)
	control  int
	now      time.Time
	version  string // GS08
}

func (e *envelope) open() {
	q := e.recvQual
	if len(q) != 2 {
		q = "ZZ"
	}
	e.w.seg("ISA", "00", pad("", 10), "00", pad("", 10), "ZZ", pad(e.sender, 15), q, pad(e.receiver, 15),
		e.now.Format("060102"), e.now.Format("1504"), "U", "00401", fmt.Sprintf("%09d", e.control), "0", "P", ">")
}

func (e *envelope) group(functional string, sets int, body func(ctl func(i int) string)) {
	gs := strconv.Itoa(e.control)
	e.w.seg("GS", functional, clean(e.sender), clean(e.receiver), e.now.Format("20060102"), e.now.Format("1504"), gs, "X", e.version)
	body(func(i int) string { return fmt.Sprintf("%04d", i) })
	e.w.seg("GE", strconv.Itoa(sets), gs)
}

func (e *envelope) close(groups int) {
	e.w.seg("IEA", strconv.Itoa(groups), fmt.Sprintf("%09d", e.control))
}

// st and se bracket a set and count its segments.
func (w *writer) st(typ, ctl string) {
	w.count = 0
	w.seg("ST", typ, ctl)
}

func (w *writer) se(ctl string) {
	w.seg("SE", strconv.Itoa(w.count+1), ctl)
}

// recipient is the ISA08 of a party: its interchange id, else its id
// upper-cased.
func recipient(to adapters.Party) string {
	if to.InterchangeID != "" {
		return to.InterchangeID
	}
	if to.Warehouse != "" {
		return strings.ToUpper(to.Warehouse)
	}
	return strings.ToUpper(to.Account)
}

// Encode writes events as one interchange: 855s (functional group PR) for
// order.accepted and order.rejected, 856s (group SH) for shipment.dispatched,
// one transaction set per event.
func (a *Adapter) Encode(evs []*event.Event, to adapters.Party) ([]byte, error) {
	var acks, ships []*event.Event
	for _, ev := range evs {
		switch ev.Type() {
		case schemas.OrderAccepted, schemas.OrderRejected:
			acks = append(acks, ev)
		case typeShipment:
			ships = append(ships, ev)
		default:
			return nil, fmt.Errorf("x12: %s cannot be written as X12 (855 from order.accepted/rejected, 856 from shipment.dispatched)", ev.Type())
		}
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("x12: no events to write")
	}
	ctl := to.Control
	if ctl <= 0 {
		ctl = 1
	}
	w := &writer{}
	e := &envelope{w: w, sender: a.cfg.InterchangeID, receiver: recipient(to), recvQual: to.Qualifier, control: ctl % 1_000_000_000, now: a.cfg.Now().UTC(), version: "004010"}
	e.open()
	groups := 0
	for _, g := range []struct {
		functional string
		evs        []*event.Event
		write      func(w *writer, ev *event.Event, ctl string) error
	}{{"PR", acks, write855}, {"SH", ships, write856}} {
		if len(g.evs) == 0 {
			continue
		}
		groups++
		var err error
		e.group(g.functional, len(g.evs), func(ctl func(int) string) {
			for i, ev := range g.evs {
				if err == nil {
					err = g.write(w, ev, ctl(i+1))
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	e.close(groups)
	return []byte(w.b.String()), nil
}

type ackData struct {
	PONumber      string `json:"po_number"`
	ShipTo        string `json:"ship_to"`
	RequestedDate string `json:"requested_date"`
	OrderID       string `json:"order_id"`
	Warehouse     string `json:"warehouse"`
	Lines         []struct {
		Line     int     `json:"line"`
		GTIN     string  `json:"gtin"`
		Quantity float64 `json:"quantity"`
		Unit     string  `json:"unit"`
	} `json:"lines"`
	Reasons []problem.Problem `json:"reasons"`
}

// un2x12 is the inverse of x12Units.
func un2x12(u string) string {
	for x, un := range x12Units {
		if un == u && x != un {
			return x
		}
	}
	return u
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func eventDate(ev *event.Event) string {
	t := ev.Time()
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Format("20060102")
}

// write855 writes a purchase order acknowledgment: BAK02 AC (accepted, with
// every line acknowledged as IA, item accepted) or RJ (rejected, the reasons
// in MSG segments of an N9 loop).
func write855(w *writer, ev *event.Event, ctl string) error {
	var d ackData
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		return fmt.Errorf("x12: 855 from %s %s: %w", ev.Type(), ev.ID(), err)
	}
	w.st("855", ctl)
	if ev.Type() == schemas.OrderRejected {
		w.seg("BAK", "00", "RJ", clean(d.PONumber), eventDate(ev))
		w.seg("N9", "L1", "REJECTION REASONS")
		for _, r := range d.Reasons {
			msg := clean(r.Code + ": " + r.Message)
			if len(msg) > 264 {
				msg = msg[:264]
			}
			w.seg("MSG", msg)
		}
		w.seg("CTT", "0")
		w.se(ctl)
		return nil
	}
	w.seg("BAK", "00", "AC", clean(d.PONumber), eventDate(ev))
	w.seg("REF", "OQ", clean(d.OrderID))
	if d.RequestedDate != "" {
		w.seg("DTM", "002", strings.ReplaceAll(d.RequestedDate, "-", ""))
	}
	w.seg("N1", "ST", "", "UL", d.ShipTo)
	for _, l := range d.Lines {
		w.seg("PO1", strconv.Itoa(l.Line), num(l.Quantity), un2x12(l.Unit), "", "", "UK", l.GTIN)
		w.seg("ACK", "IA", num(l.Quantity), un2x12(l.Unit))
	}
	w.seg("CTT", strconv.Itoa(len(d.Lines)))
	w.se(ctl)
	return nil
}

type shipData struct {
	ShipmentID      string `json:"shipment_id"`
	OrderID         string `json:"order_id"`
	ReplenishmentID string `json:"replenishment_id"`
	Carrier         string `json:"carrier"`
	SSCC            string `json:"sscc"`
	Lines           []struct {
		Line     int     `json:"line"`
		GTIN     string  `json:"gtin"`
		Quantity float64 `json:"quantity"`
		Unit     string  `json:"unit"`
	} `json:"lines"`
}

// write856 writes a ship notice with the hierarchy S (shipment: carrier,
// order or replenishment reference), T (tare: the SSCC, when there is one)
// and I (items: LIN with the GTIN-14 as UK, SN1 quantity).
func write856(w *writer, ev *event.Event, ctl string) error {
	var d shipData
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		return fmt.Errorf("x12: 856 from %s %s: %w", ev.Type(), ev.ID(), err)
	}
	t := ev.Time()
	if t.IsZero() {
		t = time.Now()
	}
	w.st("856", ctl)
	w.seg("BSN", "00", clean(d.ShipmentID), t.UTC().Format("20060102"), t.UTC().Format("1504"))
	w.seg("HL", "1", "", "S")
	if d.Carrier != "" {
		w.seg("TD5", "", "2", clean(d.Carrier))
	}
	if d.OrderID != "" {
		w.seg("REF", "OQ", clean(d.OrderID))
	}
	if d.ReplenishmentID != "" {
		w.seg("REF", "ZZ", clean(d.ReplenishmentID))
	}
	parent, hl := 1, 1
	if d.SSCC != "" {
		hl++
		w.seg("HL", strconv.Itoa(hl), "1", "T")
		w.seg("MAN", "GM", d.SSCC)
		parent = hl
	}
	for _, l := range d.Lines {
		hl++
		w.seg("HL", strconv.Itoa(hl), strconv.Itoa(parent), "I")
		line := ""
		if l.Line > 0 {
			line = strconv.Itoa(l.Line)
		}
		w.seg("LIN", line, "UK", gs1.GTIN14(l.GTIN))
		unit := l.Unit
		if unit == "" {
			unit = "EA"
		}
		w.seg("SN1", "", num(l.Quantity), un2x12(unit))
	}
	w.seg("CTT", strconv.Itoa(hl))
	w.se(ctl)
	return nil
}

// Acknowledge writes a 997 functional acknowledgment for every functional
// group of an inbound file, addressed back to its sender: AK1 names the group,
// AK2/AK5 each transaction set (A accepted, R rejected, with AK3 naming the
// first failing segment), AK9 the group's outcome (A, P partly accepted, R).
// Acceptance is the same all-or-nothing per transaction set that Decode
// applies, so a 997 says exactly which sets became events. control is the
// 997 interchange's control number.
func (a *Adapter) Acknowledge(data []byte, in adapters.Input, control int) ([]byte, error) {
	ics, ps := Read(data)
	if len(ics) == 0 {
		return nil, &adapters.Error{Problems: ps}
	}
	if control <= 0 {
		control = 1
	}
	w := &writer{}
	e := &envelope{w: w, sender: a.cfg.InterchangeID, receiver: ics[0].Sender, recvQual: ics[0].ISA.E(5), control: control % 1_000_000_000, now: a.cfg.Now().UTC(), version: "004010"}
	e.open()
	groups := 0
	for _, ic := range ics {
		for _, g := range ic.Groups {
			groups++
			e.group("FA", 1, func(ctl func(int) string) {
				c := ctl(groups)
				w.st("997", c)
				w.seg("AK1", g.Functional, g.Control)
				accepted := 0
				for _, s := range g.Sets {
					w.seg("AK2", s.Type, s.Control)
					sp := s.Problems
					if len(sp) == 0 && len(g.Problems) == 0 && len(ic.Problems) == 0 {
						_, sp = decodeSet(s, in)
					}
					if len(sp) == 0 && len(g.Problems) == 0 && len(ic.Problems) == 0 {
						accepted++
						w.seg("AK5", "A")
						continue
					}
					if seg, ok := failing(s, sp); ok {
						// AK304 8: segment has data element errors.
						w.seg("AK3", seg.ID(), strconv.Itoa(seg.SetPos), "", "8")
					}
					// AK501 R; 5: one or more segments in error; 4: control
					// number in header and trailer do not match; 3: set
					// trailer missing.
					w.seg("AK5", "R", ak5Code(sp))
				}
				status := "A"
				switch {
				case accepted == 0 && len(g.Sets) > 0:
					status = "R"
				case accepted < len(g.Sets):
					status = "P"
				}
				w.seg("AK9", status, strconv.Itoa(len(g.Sets)), strconv.Itoa(len(g.Sets)), strconv.Itoa(accepted))
				w.se(c)
			})
		}
	}
	e.close(groups)
	return []byte(w.b.String()), nil
}

// failing finds the segment of the first problem that names one.
func failing(s *Set, ps []problem.Problem) (Segment, bool) {
	for _, p := range ps {
		rest, ok := strings.CutPrefix(p.Field, "ST "+s.Control+" ("+s.Type+") segment ")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, " ")
		if pos, err := strconv.Atoi(n); err == nil && pos >= 1 && pos <= len(s.Segments) {
			return s.Segments[pos-1], true
		}
	}
	return Segment{}, false
}

func ak5Code(ps []problem.Problem) string {
	for _, p := range ps {
		switch {
		case strings.Contains(p.Message, "does not match ST02"):
			return "4"
		case strings.Contains(p.Message, "no SE"):
			return "3"
		}
	}
	return "5"
}
