// Package x12 is the adapter for ANSI ASC X12 EDI, the format of large
// accounts' ERPs and of warehouse systems.
//
// Reading: the delimiters come from the ISA segment (element separator at
// byte 4, component separator ISA16 at byte 105, segment terminator right
// after it; a newline after the terminator is allowed). ISA/IEA, GS/GE and
// ST/SE envelopes are checked: control numbers match, and IEA01, GE01 and
// SE01 count what they enclose. A file may hold several interchanges, groups
// and transaction sets.
//
// Inbound sets and the events they make:
//
//	850 purchase order     → crossdock.order.placed.v1        (accounts)
//	852 product activity   → crossdock.inventory.reported.v1  (accounts)
//	846 inventory advice   → crossdock.inventory.reported.v1  (accounts)
//	856 ship notice        → crossdock.shipment.dispatched.v1 (warehouses)
//	830 planning schedule  → crossdock.forecast.shared.v1     (accounts)
//
// A transaction set is all or nothing: a set with an error makes no event,
// and the other sets of the file still decode. An envelope error of a group
// (GE) or interchange (IEA) fails every set it encloses, since what they
// enclose cannot be trusted. Each problem names the set (ST02), the segment's
// position in the set (as a 997 AK3 does) and the element.
//
// Not read, and refused with a problem rather than guessed: purchase order
// changes and cancellations (BEG01 other than 00), ship-tos by buyer codes
// instead of GLNs, 856s shipping several orders, 852s for several locations.
// Detail-level ship-tos and SDQ store splits are ignored.
//
// Outbound (Encode): 855 purchase order acknowledgment from order.accepted
// and order.rejected, 856 ship notice from shipment.dispatched; Acknowledge
// writes a 997 for every functional group of an inbound file.
package x12

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

// Format is the adapter's name in /v1/ingest/{format}.
const Format = "x12"

func init() { adapters.Register(New(Config{})) }

// Config configures the adapter's encoders. The zero value is ready for use.
type Config struct {
	// InterchangeID is the hub's ISA06/GS02 sender id in documents it
	// writes; empty means CROSSDOCK.
	InterchangeID string
	// Now gives the time written in ISA09/ISA10 and GS04/GS05; nil means
	// time.Now.
	Now func() time.Time
}

// Adapter reads and writes X12.
type Adapter struct {
	cfg Config
}

var (
	_ adapters.Encoder      = (*Adapter)(nil)
	_ adapters.Acknowledger = (*Adapter)(nil)
)

// New returns the X12 adapter.
func New(cfg Config) *Adapter {
	if cfg.InterchangeID == "" {
		cfg.InterchangeID = "CROSSDOCK"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Adapter{cfg: cfg}
}

var (
	typeOrder     = schemas.OrderPlaced
	typeInventory = schemas.InventoryReported
	typeShipment  = schemas.ShipmentDispatched
)

// Info describes the format.
func (*Adapter) Info() adapters.Info {
	return adapters.Info{
		Format:       Format,
		Description:  "ANSI ASC X12 EDI interchanges (ISA/GS/ST envelopes, versions 004010 to 005010)",
		ContentTypes: []string{"application/edi-x12"},
		Extensions:   []string{".edi", ".x12", ".850", ".852", ".846", ".856"},
		Takes:        []string{"850 purchase order", "852 product activity data", "846 inventory inquiry/advice", "830 planning schedule with release capability (weekly forecasts)", "856 ship notice (from warehouses)"},
		Makes:        []string{typeOrder, typeInventory, typeShipment, typeForecast},
		Encodes:      []string{schemas.OrderAccepted, schemas.OrderRejected, typeShipment},
		Senders:      []string{adapters.SenderAccounts, adapters.SenderWarehouses},
	}
}

// decoder turns one transaction set into one event, or problems.
type decoder func(s *Set, in adapters.Input) (*event.Event, []problem.Problem)

// Decode reads every transaction set of every interchange in in.Data.
func (a *Adapter) Decode(in adapters.Input) ([]*event.Event, error) {
	// Each set is decoded as soon as its SE is read, while its segments are
	// in the reader's room; whether it is sent waits for its group's and
	// interchange's trailers, below.
	ics, ps := read(inPlace(in.Data), func(s *Set) {
		if len(s.Problems) == 0 {
			s.ev, s.decoded = decodeSet(s, in)
		}
	})
	return collect(ics, ps)
}

// inPlace is data as a string without copying it. Decode returns nothing
// that points into its text: event data is written anew, ids are hashes,
// problems are formatted, and the reader's sets and segments are dropped when
// it returns. So it reads in.Data where it is, and a partner file is not
// copied (for a file of 850s, a third of what decoding allocated).
// FuzzDecodeWhileReading checks it by overwriting the data after decoding.
func inPlace(data []byte) string {
	return unsafe.String(unsafe.SliceData(data), len(data))
}

// collect gathers the events of the sets decoded in ics that their group
// and interchange let through, and every problem, in the file's order.
func collect(ics []*Interchange, ps []problem.Problem) ([]*event.Event, error) {
	var evs []*event.Event
	made := map[string]string{} // event id → the set that made it
	for _, ic := range ics {
		ps = append(ps, ic.Problems...)
		for _, g := range ic.Groups {
			ps = append(ps, g.Problems...)
			for _, s := range g.Sets {
				if len(s.Problems) == 0 && len(g.Problems) == 0 && len(ic.Problems) == 0 {
					ev, sp := s.ev, s.decoded
					if ev != nil && len(sp) == 0 {
						if first, dup := made[ev.ID()]; dup {
							// The same document twice in one file (an order's PO
							// number, a shipment's BSN02): one event, the second
							// set is refused so the partner sees it.
							sp = []problem.Problem{{Code: problem.CodeDuplicate, Field: s.Where(Segment{El: []string{"ST"}, SetPos: 1}, 0),
								Message: fmt.Sprintf("the same %s as set %s of this file (same document number)", schemas.Name(ev.Type()), first)}}
						}
						made[ev.ID()] = s.Control
					}
					s.Problems = sp
					if ev != nil && len(sp) == 0 {
						evs = append(evs, ev)
						continue
					}
				}
				ps = append(ps, s.Problems...)
				ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: fmt.Sprintf("ST %s (%s)", s.Control, s.Type),
					Message: fmt.Sprintf("transaction set %s (%s) in group %s of interchange %s is not sent", s.Control, s.Type, g.Control, ic.Control)})
			}
		}
	}
	if len(ps) > 0 {
		return evs, &adapters.Error{Problems: ps}
	}
	return evs, nil
}

func decodeSet(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	var dec decoder
	fromWarehouse := in.Warehouse != ""
	switch s.Type {
	case "850":
		dec = decode850
	case "852":
		dec = decode852
	case "846":
		dec = decode846
	case "856":
		dec = decode856
	case "830":
		dec = decode830
	default:
		return nil, []problem.Problem{{Code: problem.CodeUnknownType, Field: s.Where(s.Segments[0], 1),
			Message: fmt.Sprintf("transaction set %s is not read by this hub (850, 852, 846, 830 from accounts; 856 from warehouses)", s.Type)}}
	}
	if fromWarehouse != (s.Type == "856") {
		who := "accounts"
		if fromWarehouse {
			who = "warehouses"
		}
		return nil, []problem.Problem{{Code: problem.CodeUnknownType, Field: s.Where(s.Segments[0], 1),
			Message: fmt.Sprintf("%s do not send %s: accounts send 850, 852, 846 and 830, warehouses send 856", who, s.Type)}}
	}
	return dec(s, in)
}

// problems collects a set's problems.
type problems struct {
	s  *Set
	ps []problem.Problem
}

func (p *problems) add(seg Segment, element int, format string, args ...any) {
	p.ps = append(p.ps, problem.Problem{Code: problem.CodeParseError, Field: p.s.Where(seg, element), Message: fmt.Sprintf(format, args...)})
}

func (p *problems) missing(what string) {
	p.ps = append(p.ps, problem.Problem{Code: problem.CodeParseError, Field: fmt.Sprintf("ST %s (%s)", p.s.Control, p.s.Type), Message: what})
}

// gtinQualifiers are the product id qualifiers (X12 element 235) that carry
// a GTIN: UP U.P.C. consumer package code (GTIN-12), UK GTIN-14, EN EAN-13.
var gtinQualifiers = []string{"UK", "UP", "EN"}

// productGTIN finds a GTIN among the qualifier/id pairs of seg starting at
// element first (PO106/07, LIN02/03, …).
func productGTIN(p *problems, seg Segment, first int) (string, bool) {
	var seen []string
	for i := first; i+1 < len(seg.El); i += 2 {
		q, id := seg.E(i), seg.E(i+1)
		if q == "" {
			continue
		}
		seen = append(seen, q)
		if !slices.Contains(gtinQualifiers, q) {
			continue
		}
		if err := adapters.CheckGTIN(id); err != nil {
			p.add(seg, i+1, "%s %v", q, err)
			return "", false
		}
		return gs1.GTIN14(id), true
	}
	p.add(seg, first, "no GTIN among the product ids (qualifiers %s): the hub needs UP, UK or EN", strings.Join(seen, ", "))
	return "", false
}

// glnParty finds the GLN of the first N1 whose entity code (N101) is one
// of codes, with id qualifier UL (GLN).
func glnParty(p *problems, segs []Segment, role string, codes ...string) (string, bool) {
	for _, seg := range segs {
		if seg.ID() != "N1" || !slices.Contains(codes, seg.E(1)) {
			continue
		}
		if seg.E(3) != "UL" {
			p.add(seg, 3, "the %s is identified by qualifier %q (%s); the hub needs its GLN: N103 UL, N104 the 13-digit GLN", role, seg.E(3), seg.E(4))
			return "", false
		}
		if err := adapters.CheckGLN(seg.E(4)); err != nil {
			p.add(seg, 4, "%v", err)
			return "", false
		}
		return seg.E(4), true
	}
	p.missing(fmt.Sprintf("no N1 %s segment: the hub needs the %s's GLN (N103 UL)", strings.Join(codes, " or "), role))
	return "", false
}

// x12Units maps X12 unit codes (element 355) that differ from UN/ECE
// Recommendation 20, the codes events carry; the rest are the same.
var x12Units = map[string]string{"CA": "CS", "DZ": "DZN", "LB": "LBR", "KG": "KGM", "GA": "GLL", "FT": "FOT", "CT": "CT"}

func unitOf(p *problems, seg Segment, element int) string {
	u := seg.E(element)
	if u == "" {
		return "EA"
	}
	if m, ok := x12Units[u]; ok {
		return m
	}
	if len(u) > 3 || strings.IndexFunc(u, func(r rune) bool { return !('A' <= r && r <= 'Z' || '0' <= r && r <= '9') }) >= 0 {
		p.add(seg, element, "%q is not a unit code", u)
	}
	return u
}

func quantity(p *problems, seg Segment, element int) float64 {
	q, err := parseNumber(seg.E(element))
	if err != nil || q <= 0 || q > 1e9 {
		p.add(seg, element, "%q is not a quantity above zero", seg.E(element))
		return 0
	}
	return q
}

func count(p *problems, seg Segment, element int) int {
	q, err := parseNumber(seg.E(element))
	if err != nil || q < 0 || q > 1e12 || q != float64(int64(q)) {
		p.add(seg, element, "%q is not a whole number of units, zero or more", seg.E(element))
		return 0
	}
	return int(q)
}

// parseNumber is strconv.ParseFloat(s, 64), reading the usual quantity,
// up to 15 digits and nothing else, without it: such a number is exactly a
// float64, and most quantities of a file are one.
func parseNumber(s string) (float64, error) {
	if len(s) == 0 || len(s) > 15 {
		return strconv.ParseFloat(s, 64)
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return strconv.ParseFloat(s, 64)
		}
		n = n*10 + uint64(c)
	}
	return float64(n), nil
}

// date reads an X12 date, CCYYMMDD (or YYMMDD in old versions).
func date(p *problems, seg Segment, element int) (time.Time, bool) {
	s := seg.E(element)
	layout := "20060102"
	if len(s) == 6 {
		layout = "060102"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		p.add(seg, element, "%q is not a date (CCYYMMDD)", s)
		return time.Time{}, false
	}
	return t, true
}

func find(segs []Segment, id string) (Segment, bool) {
	for _, s := range segs {
		if s.ID() == id {
			return s, true
		}
	}
	return Segment{}, false
}
