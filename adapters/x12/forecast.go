package x12

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

var typeForecast = schemas.ForecastShared

type forecastWeek struct {
	Week     string `json:"week"`
	Quantity int64  `json:"quantity"`
}

type forecastLine struct {
	Location string         `json:"location"`
	GTIN     string         `json:"gtin"`
	Weeks    []forecastWeek `json:"weeks"`

	seg  Segment // the LIN
	fsts int     // FST segments in its loop, read or not
}

type forecast struct {
	ForecastID string          `json:"forecast_id"`
	Version    int64           `json:"version"`
	Issued     string          `json:"issued,omitempty"`
	Lines      []*forecastLine `json:"lines"`
}

// decode830 reads a planning schedule with release capability as a shared
// forecast: BFR02 the forecast id, BFR03 (release number) its version, BFR08
// the date it was made; the ship-to is N1 ST (UL) in the header or, for one
// item, in its LIN loop; per LIN a GTIN and per FST (FST03 W, weekly
// buckets) FST01 units in the ISO week of FST04. Only actual discrete
// quantities are read (BFR05 A or empty), in units (UIT01 EA or none).
// CTT01, when present, must count the LIN segments. A ship-to that is not
// the sender's is unknown_ship_to, a negative quantity schema_violation;
// weeks already past and items not the account's are the planning service's
// to refuse. The id derives from the forecast id, the version and the
// locations and items, so a resent 830 is the same forecast.
func decode830(s *Set, in adapters.Input) (*event.Event, []problem.Problem) {
	p := &problems{s: s}
	var f forecast
	bfr, ok := find(s.Segments, "BFR")
	switch {
	case !ok:
		p.missing("no BFR segment: the forecast's id is in BFR02 and its version in BFR03")
	default:
		if bfr.E(1) != "00" && bfr.E(1) != "05" {
			p.add(bfr, 1, "purpose %q: the hub takes original (00) and replacement (05) forecasts; the version (BFR03) says which is newer", bfr.E(1))
		}
		if f.ForecastID = bfr.E(2); f.ForecastID == "" {
			p.add(bfr, 2, "the forecast's reference (BFR02) is empty")
		}
		v, err := strconv.ParseInt(bfr.E(3), 10, 64)
		if err != nil || v < 1 || v > math.MaxInt32 {
			p.add(bfr, 3, "release number %q: BFR03 is the forecast's version, a whole number from 1, counted up with each new forecast", bfr.E(3))
		}
		f.Version = v
		if q := bfr.E(5); q != "" && q != "A" {
			p.add(bfr, 5, "quantity qualifier %q: the hub reads actual discrete quantities (A), not cumulative ones", q)
		}
		if bfr.E(8) != "" {
			if d, ok := date(p, bfr, 8); ok {
				f.Issued = d.Format(time.DateOnly)
			}
		}
	}
	header, headerNamed := "", false
	var cur *forecastLine
	shipTo := func(seg Segment) string {
		if seg.E(3) != "UL" {
			p.add(seg, 3, "the ship-to is identified by qualifier %q (%s); the hub needs its GLN: N103 UL, N104 the 13-digit GLN", seg.E(3), seg.E(4))
			return ""
		}
		if err := adapters.CheckGLN(seg.E(4)); err != nil {
			p.add(seg, 4, "%v", err)
			return ""
		}
		if in.AccountOf != nil && in.Account != "" {
			if owner, ok := in.AccountOf(seg.E(4)); !ok || owner != in.Account {
				p.ps = append(p.ps, problem.Problem{Code: problem.CodeUnknownShipTo, Field: s.Where(seg, 4),
					Message: fmt.Sprintf("%s is not a location of account %s", seg.E(4), in.Account)})
				return ""
			}
		}
		return seg.E(4)
	}
	for _, seg := range s.Segments {
		switch seg.ID() {
		case "N1":
			if seg.E(1) != "ST" {
				continue
			}
			if cur == nil {
				header, headerNamed = shipTo(seg), true
			} else {
				cur.Location = shipTo(seg)
			}
		case "LIN":
			cur = &forecastLine{seg: seg, Location: header}
			cur.GTIN, _ = productGTIN(p, seg, 2)
			f.Lines = append(f.Lines, cur)
		case "UIT":
			if u := seg.E(1); u != "" && u != "EA" {
				p.add(seg, 1, "unit %q: the hub takes forecasts in units (EA)", u)
			}
		case "FST":
			if cur == nil {
				p.add(seg, 0, "FST before any LIN")
				continue
			}
			cur.fsts++
			if w := forecastBucket(p, s, seg); w != nil {
				if slices.ContainsFunc(cur.Weeks, func(o forecastWeek) bool { return o.Week == w.Week }) {
					p.add(seg, 4, "week %s is forecast twice for item %s", w.Week, cur.GTIN)
					continue
				}
				cur.Weeks = append(cur.Weeks, *w)
			}
		case "CTT":
			if n, err := strconv.Atoi(seg.E(1)); err != nil || n != len(f.Lines) {
				p.add(seg, 1, "CTT01 says %s line items, the set has %d LIN segments", seg.E(1), len(f.Lines))
			}
		}
	}
	seen := map[string]bool{}
	var keys []string
	for _, l := range f.Lines {
		if l.Location == "" && !headerNamed && !hasLineShipTo(s, l.seg) {
			p.add(l.seg, 0, "item %s has no ship-to: name the location's GLN in an N1 ST (UL), in the header or the item's loop", l.GTIN)
		}
		if l.fsts == 0 {
			p.add(l.seg, 0, "item %s has no weekly FST quantity", l.GTIN)
		}
		k := l.Location + "/" + l.GTIN
		if seen[k] && l.GTIN != "" && l.Location != "" {
			p.add(l.seg, 0, "item %s at %s is forecast twice", l.GTIN, l.Location)
		}
		seen[k] = true
		keys = append(keys, k)
	}
	if len(f.Lines) == 0 {
		p.missing("no LIN segment: the forecast has no items")
	}
	if len(p.ps) > 0 {
		return nil, p.ps
	}
	slices.Sort(keys)
	ev, err := adapters.NewEvent(Format, in, in.Account, typeForecast, fmt.Sprintf("830/%s/%d/%s", f.ForecastID, f.Version, strings.Join(keys, ",")), f)
	if err != nil {
		return nil, []problem.Problem{{Code: problem.CodeParseError, Field: "ST " + s.Control, Message: err.Error()}}
	}
	return ev, nil
}

// forecastBucket reads one FST: FST01 whole units, zero or more; FST03 W
// (a weekly bucket, Monday to Sunday); FST04 a date in the week.
func forecastBucket(p *problems, s *Set, seg Segment) *forecastWeek {
	q, err := strconv.ParseFloat(seg.E(1), 64)
	switch {
	case err != nil || math.IsNaN(q) || math.IsInf(q, 0):
		p.add(seg, 1, "%q is not a quantity", seg.E(1))
		return nil
	case q < 0:
		p.ps = append(p.ps, problem.Problem{Code: problem.CodeSchemaViolation, Field: s.Where(seg, 1),
			Message: fmt.Sprintf("quantity %s is negative: a forecast quantity is zero or more", seg.E(1))})
		return nil
	case q != math.Trunc(q) || q > 1e9:
		p.add(seg, 1, "%q is not a whole number of units up to 1,000,000,000", seg.E(1))
		return nil
	}
	if seg.E(3) != "W" {
		p.add(seg, 3, "timing qualifier %q: the hub takes weekly buckets (FST03 W)", seg.E(3))
		return nil
	}
	d, ok := date(p, seg, 4)
	if !ok {
		return nil
	}
	y, w := d.ISOWeek()
	return &forecastWeek{Week: fmt.Sprintf("%04d-W%02d", y, w), Quantity: int64(q)}
}

// hasLineShipTo reports whether the LIN loop starting at lin names an N1 ST;
// when it does, a problem with it was already reported.
func hasLineShipTo(s *Set, lin Segment) bool {
	for _, seg := range s.Segments[lin.SetPos:] {
		switch {
		case seg.ID() == "LIN":
			return false
		case seg.ID() == "N1" && seg.E(1) == "ST":
			return true
		}
	}
	return false
}
