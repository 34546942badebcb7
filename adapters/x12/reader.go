package x12

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/problem"
)

// isaLen is the length of the fixed-width ISA segment, terminator excluded:
// 16 elements of fixed width, the element separator at byte 3 and ISA16, the
// component separator, at byte 104 (X12.5 Interchange Control Structures).
const isaLen = 106

// isaSeparators are the byte offsets of the element separators in an ISA.
var isaSeparators = [...]int{3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103}

// Delimiters are an interchange's separators, all taken from its ISA.
type Delimiters struct {
	Element    byte // ISA byte 3
	Component  byte // ISA16
	Repetition byte // ISA11 from version 00402 on; 0 before
	Segment    byte // the byte after ISA16
}

// Segment is one segment: El[0] is its id, El[i] its i-th element.
type Segment struct {
	El []string
	// Pos is the segment's position in the file, from 1 at the ISA.
	Pos int
	// SetPos is its position in its transaction set, from 1 at the ST (0
	// outside a set), the position a 997 AK3 reports.
	SetPos int
}

// ID is the segment id (BEG, PO1, …).
func (s Segment) ID() string { return s.El[0] }

// E returns element i (1-based), or "" when the segment is shorter.
func (s Segment) E(i int) string {
	if i < len(s.El) {
		return s.El[i]
	}
	return ""
}

// Interchange is an ISA/IEA envelope and what it holds.
type Interchange struct {
	Delims   Delimiters
	ISA      Segment
	Control  string // ISA13
	Sender   string // ISA06, trimmed
	Receiver string // ISA08, trimmed
	Version  string // ISA12
	Groups   []*Group
	// Problems are envelope errors of the interchange itself (IEA); they
	// fail every set in it.
	Problems []problem.Problem
}

// Group is a GS/GE functional group.
type Group struct {
	GS         Segment
	Functional string // GS01, e.g. PO
	Control    string // GS06
	Version    string // GS08
	Sets       []*Set
	// Problems are envelope errors of the group (GE); they fail every set
	// in it.
	Problems []problem.Problem
}

// Set is an ST/SE transaction set.
type Set struct {
	Type     string    // ST01, e.g. 850
	Control  string    // ST02
	Segments []Segment // ST to SE inclusive
	// Problems are the set's own envelope errors (SE count or control
	// number), filled by Read; decoders add content errors.
	Problems []problem.Problem

	// What Decode made of the set while its segments were read.
	ev      *event.Event
	decoded []problem.Problem
}

// Where names a place in the set for a problem's Field.
func (s *Set) Where(seg Segment, element int) string {
	w := fmt.Sprintf("ST %s (%s) segment %d %s", s.Control, s.Type, seg.SetPos, seg.ID())
	if element > 0 {
		w += fmt.Sprintf(" element %02d", element)
	}
	return w
}

// Read reads every interchange in data. Envelope errors that make the rest
// unreadable (a truncated or malformed ISA) come back as problems with no
// interchanges; the others are attached to the interchange, group or set
// they concern.
func Read(data []byte) ([]*Interchange, []problem.Problem) {
	return read(string(data), nil)
}

// read is Read that, when each is not nil, hands each transaction set closed
// by its SE to each as soon as it is read, and then takes the room of its
// segments back for the next set: the set's Segments are valid only during
// the call, and nil after. Decode works that way, so that a file of many
// sets holds one set's segments at a time, not the whole file's.
func read(text string, each func(*Set)) ([]*Interchange, []problem.Problem) {
	var out []*Interchange
	pos := 0 // segments read so far, for Pos
	a := newArena(len(text))
	for {
		text = strings.TrimLeft(text, " \t\r\n\ufeff")
		if text == "" {
			break
		}
		ic, rest, n, p := readInterchange(text, pos, &a, each)
		if p != nil {
			return out, []problem.Problem{*p}
		}
		out = append(out, ic)
		text, pos = rest, pos+n
	}
	if len(out) == 0 {
		return nil, []problem.Problem{{Code: problem.CodeParseError, Field: "segment 1 ISA", Message: "the file is empty: an X12 interchange starts with an ISA segment"}}
	}
	return out, nil
}

// parseProblem is a parse_error at field.
func parseProblem(field, format string, args ...any) *problem.Problem {
	return &problem.Problem{Code: problem.CodeParseError, Field: field, Message: fmt.Sprintf(format, args...)}
}

// readISA checks the fixed-width ISA and returns its delimiters.
func readISA(text string, pos int) (Delimiters, *problem.Problem) {
	field := fmt.Sprintf("segment %d ISA", pos+1)
	if !strings.HasPrefix(text, "ISA") {
		return Delimiters{}, parseProblem(field, "an interchange must start with ISA, found %q", head(text, 10))
	}
	if len(text) < isaLen {
		return Delimiters{}, parseProblem(field, "truncated ISA: %d bytes, an ISA segment is %d bytes with its terminator", len(text), isaLen)
	}
	d := Delimiters{Element: text[3], Component: text[104], Segment: text[105]}
	for i, off := range isaSeparators {
		if text[off] != d.Element {
			return Delimiters{}, parseProblem(fmt.Sprintf("%s element %02d", field, i+1),
				"the ISA is fixed width: the element separator %q should be at byte %d, found %q (are ISA06/ISA08 padded to 15 characters?)", d.Element, off+1, text[off])
		}
	}
	if isAlnum(d.Element) || isAlnum(d.Segment) || d.Element == d.Segment || d.Component == d.Element || d.Component == d.Segment {
		return Delimiters{}, parseProblem(field+" element 16", "separators %q (element), %q (component), %q (segment) must be distinct and not letters or digits", d.Element, d.Component, d.Segment)
	}
	if ver := text[84:89]; ver >= "00402" && !isAlnum(text[82]) {
		d.Repetition = text[82]
	}
	return d, nil
}

func isAlnum(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

func head(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// arena hands out the element slices of segments, and the segment lists of
// transaction sets, from a few large allocations, so that reading a file
// costs a handful of allocations rather than several per segment.
type arena struct {
	chunk []string // room for elements; chunk[used:] is free
	used  int
	segs  []Segment

	// The sizes of its refills: the chunk sizes below, or less for a small
	// file, where a full chunk cost more than the rest of its decode.
	elementRoom, segmentRoom int
}

// newArena returns an arena for a file of size bytes. An element takes a
// few bytes with its separator, a segment a dozen or more: a file needs
// about size/3 elements and size/8 segments, and a refill when it has more.
func newArena(size int) arena {
	return arena{elementRoom: min(elementChunk, size/3+16), segmentRoom: min(segmentChunk, size/8+8)}
}

// open starts a set's segment list with first in the arena's free room;
// appends then fill that room without allocating until it runs out.
func (a *arena) open(first Segment) []Segment {
	if len(a.segs) < a.segmentRoom/4+1 {
		a.segs = make([]Segment, a.segmentRoom)
	}
	s := a.segs[:1]
	s[0] = first
	return s
}

// close ends a set's list: the arena's free room starts after it. A list
// that outgrew the room was moved by append and leaves the room as it was.
func (a *arena) close(s []Segment) []Segment {
	if len(s) <= len(a.segs) && &s[0] == &a.segs[0] {
		a.segs = a.segs[len(s):]
	}
	return s[:len(s):len(s)]
}

// mark is where the element room stood before a segment was split.
type mark struct {
	chunk *string // the chunk's first element, to tell chunks apart
	used  int
}

func (a *arena) mark() mark {
	if len(a.chunk) == 0 {
		return mark{}
	}
	return mark{&a.chunk[0], a.used}
}

// release takes back the element room handed out since m, and leaves the
// segment room to the next open: the segments a set read since m are then
// overwritten. When a new chunk came since m, all of it is free again (what
// came before was in the old chunk).
func (a *arena) release(m mark) {
	if len(a.chunk) > 0 && m.chunk == &a.chunk[0] {
		a.used = m.used
	} else {
		a.used = 0
	}
}

// The arena's refills: small enough to stay in cache and cost little to
// clear, large enough that a file of 850s refills once every few dozen sets.
const (
	elementChunk = 2048
	segmentChunk = 256
)

// split cuts raw at sep into elements taken from the arena. A segment has
// at most len(raw)+1 elements: with room for that many it is cut in one
// pass over its bytes, which for segments of a few dozen bytes costs less
// than counting the separators first and then searching for each.
func (a *arena) split(raw string, sep byte) []string {
	room := len(raw) + 1
	if room > a.elementRoom {
		// A long segment (free text): count, so as to take no more room
		// than its elements.
		room = strings.Count(raw, string(sep)) + 1
	}
	if len(a.chunk)-a.used < room {
		a.chunk = make([]string, max(room, a.elementRoom))
		a.used = 0
	}
	free := a.chunk[a.used:]
	n, start := 0, 0
	for i := 0; i < len(raw); i++ {
		if raw[i] == sep {
			free[n] = raw[start:i]
			n++
			start = i + 1
		}
	}
	free[n] = raw[start:]
	n++
	a.used += n
	return free[:n:n]
}

// trimSegment drops what surrounds a segment's text but is not data: line
// ends after terminators and stray spaces before a segment id.
func trimSegment(raw string) string {
	i := 0
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n') {
		i++
	}
	j := len(raw)
	for j > i && (raw[j-1] == '\r' || raw[j-1] == '\n') {
		j--
	}
	return raw[i:j]
}

// where names a segment in a problem's Field.
func where(seg Segment) string { return fmt.Sprintf("segment %d %s", seg.Pos, seg.ID()) }

// readInterchange reads one ISA … IEA from text, returning the rest.
func readInterchange(text string, pos int, a *arena, each func(*Set)) (*Interchange, string, int, *problem.Problem) {
	d, p := readISA(text, pos)
	if p != nil {
		return nil, "", 0, p
	}
	ic := &Interchange{Delims: d}
	n := 0
	var group *Group
	var set *Set
	var setMark mark // the element room before set's ST
	closed := false
	rest := text
	for rest != "" && !closed {
		var raw string
		if i := strings.IndexByte(rest, d.Segment); i >= 0 {
			raw, rest = rest[:i], rest[i+1:]
		} else {
			raw, rest = rest, ""
		}
		raw = trimSegment(raw)
		if raw == "" {
			continue
		}
		n++
		m := a.mark()
		seg := Segment{El: a.split(raw, d.Element), Pos: pos + n}
		if set != nil {
			seg.SetPos = len(set.Segments) + 1
		}
		switch seg.ID() {
		case "ISA":
			if n != 1 {
				return nil, "", 0, parseProblem(where(seg), "ISA %s is not closed by an IEA before the next ISA", ic.Control)
			}
			ic.ISA = seg
			ic.Control, ic.Sender, ic.Receiver, ic.Version = seg.E(13), strings.TrimSpace(seg.E(6)), strings.TrimSpace(seg.E(8)), seg.E(12)
		case "GS":
			if group != nil {
				group.Problems = append(group.Problems, *parseProblem(where(seg), "GS %s has no GE before the next GS", group.Control))
			}
			group = &Group{GS: seg, Functional: seg.E(1), Control: seg.E(6), Version: seg.E(8)}
			ic.Groups = append(ic.Groups, group)
		case "ST":
			if group == nil {
				return nil, "", 0, parseProblem(where(seg), "ST outside a functional group: a GS must come first")
			}
			if set != nil {
				set.Problems = append(set.Problems, *parseProblem(where(seg), "ST %s has no SE before the next ST", set.Control))
				set.Segments = a.close(set.Segments)
			}
			seg.SetPos = 1
			set = &Set{Type: seg.E(1), Control: seg.E(2), Segments: a.open(seg)}
			setMark = m
			group.Sets = append(group.Sets, set)
		case "SE":
			if set == nil {
				return nil, "", 0, parseProblem(where(seg), "SE without an ST")
			}
			set.Segments = append(set.Segments, seg)
			checkCount(&set.Problems, seg, "SE", seg.E(1), len(set.Segments), "segments (ST and SE included)")
			if seg.E(2) != set.Control {
				set.Problems = append(set.Problems, *parseProblem(where(seg)+" element 02", "SE02 %q does not match ST02 %q", seg.E(2), set.Control))
			}
			if each != nil {
				// Everything split since the ST is the set's: take it back.
				each(set)
				set.Segments = nil
				a.release(setMark)
			} else {
				set.Segments = a.close(set.Segments)
			}
			set = nil
		case "GE":
			if group == nil {
				return nil, "", 0, parseProblem(where(seg), "GE without a GS")
			}
			if set != nil {
				set.Problems = append(set.Problems, *parseProblem(where(seg), "ST %s has no SE: the set is cut short", set.Control))
				set.Segments = a.close(set.Segments)
				set = nil
			}
			checkCount(&group.Problems, seg, "GE", seg.E(1), len(group.Sets), "transaction sets")
			if seg.E(2) != group.Control {
				group.Problems = append(group.Problems, *parseProblem(where(seg)+" element 02", "GE02 %q does not match GS06 %q", seg.E(2), group.Control))
			}
			group = nil
		case "IEA":
			if set != nil {
				set.Problems = append(set.Problems, *parseProblem(where(seg), "ST %s has no SE: the set is cut short", set.Control))
				set.Segments = a.close(set.Segments)
				set = nil
			}
			if group != nil {
				group.Problems = append(group.Problems, *parseProblem(where(seg), "GS %s has no GE", group.Control))
				group = nil
			}
			checkCount(&ic.Problems, seg, "IEA", seg.E(1), len(ic.Groups), "functional groups")
			if seg.E(2) != ic.Control {
				ic.Problems = append(ic.Problems, *parseProblem(where(seg)+" element 02", "IEA02 %q does not match ISA13 %q", seg.E(2), ic.Control))
			}
			closed = true
		default:
			if set == nil {
				return nil, "", 0, parseProblem(where(seg), "segment %s outside a transaction set (ST … SE)", seg.ID())
			}
			set.Segments = append(set.Segments, seg)
		}
	}
	if !closed {
		where := fmt.Sprintf("segment %d", pos+n)
		if set != nil {
			set.Problems = append(set.Problems, *parseProblem(where, "the file ends inside ST %s: no SE, GE or IEA", set.Control))
			set.Segments = a.close(set.Segments)
		}
		if group != nil {
			group.Problems = append(group.Problems, *parseProblem(where, "the file ends inside GS %s: no GE", group.Control))
		}
		ic.Problems = append(ic.Problems, *parseProblem(where, "the file ends inside interchange %s: no IEA", ic.Control))
	}
	return ic, rest, n, nil
}

// checkCount compares a trailer's count element with what was read.
// The trailer's place is written only for a problem: every set has an SE.
func checkCount(ps *[]problem.Problem, seg Segment, trailer, text string, got int, what string) {
	want, err := strconv.Atoi(text)
	switch {
	case err != nil:
		*ps = append(*ps, *parseProblem(where(seg)+" element 01", "%s01 %q is not a count", trailer, text))
	case want != got:
		*ps = append(*ps, *parseProblem(where(seg)+" element 01", "%s01 says %d %s, the envelope has %d", trailer, want, what, got))
	}
}
