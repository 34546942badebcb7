// Package epc decodes and encodes the 96-bit EPC binary encodings of the GS1
// EPC Tag Data Standard (TDS): SGTIN-96, SSCC-96, SGLN-96, GRAI-96 and
// GIAI-96. The rfid service turns the hex an RFID reader reports from a tag's
// EPC memory bank into the pure identity URI that EPCIS events and location
// tracking use; Encode goes back, for tests, tools and look-ups by URI.
package epc

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/crossdock/crossdock/gs1"
)

// Scheme is an EPC binary encoding scheme, named as in the tag URI.
type Scheme string

// The schemes this package reads and writes (TDS §14.5).
const (
	SGTIN96 Scheme = "sgtin-96"
	SSCC96  Scheme = "sscc-96"
	SGLN96  Scheme = "sgln-96"
	GRAI96  Scheme = "grai-96"
	GIAI96  Scheme = "giai-96"
)

// Error is why a hex string or URI is not an EPC this package can read. Its
// Reason is a sentence for a person; the rfid service reports it with the
// stable code bad_epc.
type Error struct {
	Input  string
	Reason string
}

// Error says which input is not an EPC and why.
func (e *Error) Error() string { return "bad epc " + e.Input + ": " + e.Reason }

func bad(in, format string, a ...any) *Error {
	return &Error{Input: in, Reason: fmt.Sprintf(format, a...)}
}

// row is one line of a partition table: the bits and digits of the GS1
// company prefix and of the field that follows it.
type row struct{ cpBits, cpDigits, refBits, refDigits int }

// layout is how one scheme lays out its 96 bits after the 8-bit header, the
// 3-bit filter and the 3-bit partition: company prefix and reference as the
// partition says, then a trailing field of tailBits.
type layout struct {
	scheme    Scheme
	header    byte
	idName    string // pure identity URI scheme (urn:epc:id:<idName>:…)
	uriPrefix string // "urn:epc:id:<idName>:"
	table     [7]row
	tailBits  int  // serial (SGTIN, GRAI) or extension (SGLN); 0 for GIAI, 24 unallocated for SSCC
	tailIsNum bool // the tail is a decimal field of the URI
	// refNumeric: GIAI's asset reference is an integer of refBits, written
	// without leading zeros, not a zero-padded field of refDigits.
	refNumeric bool
}

// Partition tables: TDS 2.0 §14.5.1 (SGTIN), §14.5.2 (SSCC), §14.5.3 (SGLN),
// §14.5.4 (GRAI), §14.5.5 (GIAI); cross-checked with the GS1 Tag Data
// Translation files (ref.gs1.org/standards/tdt/2.0.0/<SCHEME>.json).
var layouts = []*layout{
	{scheme: SGTIN96, header: 0x30, idName: "sgtin", uriPrefix: "urn:epc:id:sgtin:", tailBits: 38, tailIsNum: true, table: [7]row{
		{40, 12, 4, 1}, {37, 11, 7, 2}, {34, 10, 10, 3}, {30, 9, 14, 4}, {27, 8, 17, 5}, {24, 7, 20, 6}, {20, 6, 24, 7}}},
	{scheme: SSCC96, header: 0x31, idName: "sscc", uriPrefix: "urn:epc:id:sscc:", tailBits: 24, table: [7]row{
		{40, 12, 18, 5}, {37, 11, 21, 6}, {34, 10, 24, 7}, {30, 9, 28, 8}, {27, 8, 31, 9}, {24, 7, 34, 10}, {20, 6, 38, 11}}},
	{scheme: SGLN96, header: 0x32, idName: "sgln", uriPrefix: "urn:epc:id:sgln:", tailBits: 41, tailIsNum: true, table: [7]row{
		{40, 12, 1, 0}, {37, 11, 4, 1}, {34, 10, 7, 2}, {30, 9, 11, 3}, {27, 8, 14, 4}, {24, 7, 17, 5}, {20, 6, 21, 6}}},
	{scheme: GRAI96, header: 0x33, idName: "grai", uriPrefix: "urn:epc:id:grai:", tailBits: 38, tailIsNum: true, table: [7]row{
		{40, 12, 4, 0}, {37, 11, 7, 1}, {34, 10, 10, 2}, {30, 9, 14, 3}, {27, 8, 17, 4}, {24, 7, 20, 5}, {20, 6, 24, 6}}},
	{scheme: GIAI96, header: 0x34, idName: "giai", uriPrefix: "urn:epc:id:giai:", refNumeric: true, table: [7]row{
		{40, 12, 42, 13}, {37, 11, 45, 14}, {34, 10, 48, 15}, {30, 9, 52, 16}, {27, 8, 55, 17}, {24, 7, 58, 18}, {20, 6, 62, 19}}},
}

func byHeader(h byte) *layout {
	if h >= 0x30 && h <= 0x34 {
		return layouts[h-0x30]
	}
	return nil
}

func byScheme(s Scheme) *layout {
	for _, l := range layouts {
		if l.scheme == s {
			return l
		}
	}
	return nil
}

// EPC is a decoded 96-bit EPC: its scheme, the filter value and the fields
// of its pure identity, as the decimal strings the URIs show.
type EPC struct {
	Scheme Scheme
	// Filter is the TDS filter value (0 to 7), e.g. 1 point of sale item,
	// 2 full case, 3 reserved, 6 unit load for SGTIN; it is in the tag URI
	// only, not the pure identity.
	Filter int
	// CompanyPrefix is the GS1 company prefix, 6 to 12 digits; its length is
	// what the partition value encodes.
	CompanyPrefix string
	// Reference is the item reference with its indicator digit (SGTIN), the
	// serial reference with its extension digit (SSCC), the location
	// reference (SGLN), the asset type (GRAI) or the individual asset
	// reference (GIAI).
	Reference string
	// Serial is the serial number (SGTIN, GRAI) or the GLN extension (SGLN,
	// "0" for none); empty for SSCC and GIAI.
	Serial string
}

// Decode reads the hex of a 96-bit EPC (24 hex digits, either case) from a
// tag's EPC memory bank. An unknown header, a partition value of 7, a field
// whose value has more digits than the partition allows, or SSCC-96's
// unallocated bits not zero are an *Error.
func Decode(s string) (EPC, error) {
	f, err := read(s)
	if err != nil {
		return EPC{}, err
	}
	// One string holds the three decimal fields; each field is a slice of it.
	var buf [maxURI]byte
	cpEnd := putDigits(buf[:], 0, f.cp, f.row.cpDigits)
	refEnd := putDigits(buf[:], cpEnd, f.ref, f.refDigits())
	end := refEnd
	if f.l.tailIsNum {
		end = putDigits(buf[:], refEnd, f.tail, decimalLen(f.tail))
	}
	all := string(buf[:end])
	return EPC{Scheme: f.l.scheme, Filter: f.filter, CompanyPrefix: all[:cpEnd], Reference: all[cpEnd:refEnd], Serial: all[refEnd:]}, nil
}

// DecodeURI is Decode(s).URI() in one step and one allocation, the string
// it returns.
func DecodeURI(s string) (string, error) {
	var buf [64]byte
	b, err := AppendURI(buf[:0], s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendURI appends the pure identity URI of the hex EPC s to b, allocating
// nothing when b has room (64 bytes always do): what the rfid service does
// with every read a reader reports, so that a read storm's repeats of one
// tag cost no garbage. It writes the digits straight into b's spare room
// (issue 18 asks for 10 million decodes a second per core).
func AppendURI(b []byte, s string) ([]byte, error) {
	f, err := read(s)
	if err != nil {
		return b, err
	}
	b = slices.Grow(b, maxURI)
	n := len(b)
	out := b[n : n+maxURI]
	i := copy(out, f.l.uriPrefix)
	i = putDigits(out, i, f.cp, f.row.cpDigits)
	out[i] = '.'
	i++
	i = putDigits(out, i, f.ref, f.refDigits())
	if f.l.tailIsNum {
		out[i] = '.'
		i = putDigits(out, i+1, f.tail, decimalLen(f.tail))
	}
	return b[:n+i], nil
}

// maxURI is room for the longest pure identity URI of a 96-bit EPC (SGLN-96:
// 16 bytes of prefix, 13 digits of company prefix and location reference,
// two dots, 13 digits of a 41-bit extension: 44 bytes), rounded up.
const maxURI = 64

// bitFields are a 96-bit EPC's values as its scheme and partition lay them out.
type bitFields struct {
	l             *layout
	row           *row // a pointer keeps bitFields and an error within the registers a call returns in
	filter        int
	cp, ref, tail uint64
}

// refDigits is how many digits the reference is written with: as many as
// the partition says, zero-padded, or GIAI's integer as it is.
func (f *bitFields) refDigits() int {
	if f.l.refNumeric {
		return decimalLen(f.ref)
	}
	return f.row.refDigits
}

// read checks and splits the 24 hex digits of a 96-bit EPC.
func read(in string) (bitFields, error) {
	if len(in) != 24 {
		return bitFields{}, bad(in, "want 24 hex digits (a 96-bit EPC), got %d characters", len(in))
	}
	// The 96 bits as a 128-bit number: hi holds bits 0-63, lo bits 64-95 in
	// its top 32 bits.
	w0, bad0 := hex8(in[0:8])
	w1, bad1 := hex8(in[8:16])
	w2, bad2 := hex8(in[16:24])
	if bad0|bad1|bad2 > 0xf {
		if _, err := hex.DecodeString(in); err != nil {
			return bitFields{}, bad(in, "not hex: %v", err)
		}
		return bitFields{}, bad(in, "not hex")
	}
	hi := uint64(w0)<<32 | uint64(w1)
	lo := uint64(w2) << 32
	header := byte(hi >> 56)
	l := byHeader(header)
	if l == nil {
		return bitFields{}, bad(in, "header 0x%02X is not one of SGTIN-96 (0x30), SSCC-96 (0x31), SGLN-96 (0x32), GRAI-96 (0x33), GIAI-96 (0x34)", header)
	}
	f := bitFields{l: l, filter: int(field(hi, lo, 8, 3))}
	p := int(field(hi, lo, 11, 3))
	if p > 6 {
		return bitFields{}, bad(in, "partition value 7 is reserved (TDS partition tables end at 6)")
	}
	r := &l.table[p]
	f.row = r
	off := 14
	f.cp = field(hi, lo, off, r.cpBits)
	off += r.cpBits
	if f.cp >= pow10[r.cpDigits] {
		return bitFields{}, bad(in, "company prefix %d has more than the %d digits partition %d allows", f.cp, r.cpDigits, p)
	}
	f.ref = field(hi, lo, off, r.refBits)
	off += r.refBits
	if !l.refNumeric && f.ref >= pow10[r.refDigits] {
		return bitFields{}, bad(in, "%s reference %d has more than the %d digits partition %d allows", l.idName, f.ref, r.refDigits, p)
	}
	f.tail = field(hi, lo, off, l.tailBits)
	if !l.tailIsNum && f.tail != 0 {
		return bitFields{}, bad(in, "the 24 unallocated bits of SSCC-96 are not zero")
	}
	return f, nil
}

// unhex maps an ASCII byte to its hex value, or 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// hex8 reads the 8 hex digits of s. unhex gives 0xff for a byte that is not
// one, so or-ing every value shows one without a branch per digit: all is
// above 0xf then.
func hex8(s string) (v uint32, all byte) {
	_ = s[7]
	a, b, c, d := unhex[s[0]], unhex[s[1]], unhex[s[2]], unhex[s[3]]
	e, f, g, h := unhex[s[4]], unhex[s[5]], unhex[s[6]], unhex[s[7]]
	all = (a | b) | (c | d) | ((e | f) | (g | h))
	v = (uint32(a)<<28 | uint32(b)<<24 | uint32(c)<<20 | uint32(d)<<16) |
		(uint32(e)<<12 | uint32(f)<<8 | uint32(g)<<4 | uint32(h))
	return v, all
}

// field reads n (at most 64) bits from bit offset off of the 128-bit number
// hi:lo, most significant first.
func field(hi, lo uint64, off, n int) uint64 {
	if n == 0 {
		return 0
	}
	switch {
	case off >= 64:
		hi = lo << uint(off-64)
	case off > 0:
		hi = hi<<uint(off) | lo>>uint(64-off)
	}
	return hi >> uint(64-n)
}

func putBits(b *[12]byte, off, n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		if v&1 == 1 {
			pos := off + i
			b[pos>>3] |= 1 << (7 - uint(pos&7))
		}
		v >>= 1
	}
}

var pow10 = func() [21]uint64 {
	var p [21]uint64
	p[0] = 1
	for i := 1; i < 20; i++ {
		p[i] = p[i-1] * 10
	}
	p[20] = ^uint64(0) // 10^20 does not fit: every uint64 has fewer digits
	return p
}()

// putDigits writes the digits lowest decimal digits of v, zero-padded, to
// dst[i:i+digits] and returns i+digits. v has at most that many digits (read
// checks every padded field; decimalLen sizes the others). Two digits a
// step from a table, as strconv does, but without its copy.
func putDigits(dst []byte, i int, v uint64, digits int) int {
	end := i + digits
	j := end
	// Eight digits at a time split off with one division, so that their
	// 32-bit divisions do not wait on the rest's.
	for j-i > 8 {
		hi := v / 1e8
		lo := uint32(v - hi*1e8)
		for range 4 {
			q := lo / 100
			r := lo - q*100
			j -= 2
			dst[j], dst[j+1] = pairs[2*r], pairs[2*r+1]
			lo = q
		}
		v = hi
	}
	w := uint32(v) // at most eight digits remain
	for j-i >= 2 {
		q := w / 100
		r := w - q*100
		j -= 2
		dst[j], dst[j+1] = pairs[2*r], pairs[2*r+1]
		w = q
	}
	if j > i {
		dst[i] = byte('0' + w)
	}
	return end
}

// pairs holds "00" to "99", two bytes each.
const pairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// decimalLen is the number of decimal digits of v (1 for 0).
func decimalLen(v uint64) int {
	// log10(2) ≈ 1233/4096: a guess from the bit length, off by at most one.
	n := (bits.Len64(v) * 1233) >> 12
	if v >= pow10[n] {
		n++
	}
	return max(n, 1)
}

// URI is the pure identity URI (TDS §6), e.g.
// urn:epc:id:sgtin:0614141.812345.6789: what EPCIS events carry.
func (e EPC) URI() string {
	l := byScheme(e.Scheme)
	if l == nil {
		return ""
	}
	s := "urn:epc:id:" + l.idName + ":" + e.CompanyPrefix + "." + e.Reference
	if l.tailIsNum {
		s += "." + e.Serial
	}
	return s
}

// TagURI is the tag URI (TDS §12), which adds the scheme and the filter,
// e.g. urn:epc:tag:sgtin-96:3.0614141.812345.6789.
func (e EPC) TagURI() string {
	l := byScheme(e.Scheme)
	if l == nil {
		return ""
	}
	s := "urn:epc:tag:" + string(e.Scheme) + ":" + strconv.Itoa(e.Filter) + "." + e.CompanyPrefix + "." + e.Reference
	if l.tailIsNum {
		s += "." + e.Serial
	}
	return s
}

// GTIN is the GTIN-14 of an SGTIN (indicator digit, company prefix, item
// reference, GS1 check digit), or "" for the other schemes.
func (e EPC) GTIN() string {
	if e.Scheme != SGTIN96 || len(e.Reference) == 0 {
		return ""
	}
	body := e.Reference[:1] + e.CompanyPrefix + e.Reference[1:]
	return gs1.Complete(body)
}

// Hex encodes e as the 24 hex digits (upper case) of its 96-bit binary
// encoding. Fields that do not fit their partition are an *Error.
func (e EPC) Hex() (string, error) {
	l := byScheme(e.Scheme)
	if l == nil {
		return "", bad(string(e.Scheme), "scheme is not one of sgtin-96, sscc-96, sgln-96, grai-96, giai-96")
	}
	in := e.TagURI()
	if e.Filter < 0 || e.Filter > 7 {
		return "", bad(in, "filter %d: want 0 to 7", e.Filter)
	}
	p := -1
	for i, r := range l.table {
		if r.cpDigits == len(e.CompanyPrefix) {
			p = i
		}
	}
	if p < 0 {
		return "", bad(in, "company prefix %q: want 6 to 12 digits", e.CompanyPrefix)
	}
	r := l.table[p]
	cp, ok := digitsValue(e.CompanyPrefix)
	if !ok {
		return "", bad(in, "company prefix %q is not all digits", e.CompanyPrefix)
	}
	var ref uint64
	if l.refNumeric {
		ref, ok = integer(e.Reference)
		if !ok || ref >= 1<<uint(r.refBits) {
			return "", bad(in, "asset reference %q: want an integer without leading zeros below 2^%d", e.Reference, r.refBits)
		}
	} else {
		if len(e.Reference) != r.refDigits {
			return "", bad(in, "reference %q: want %d digits with a %d-digit company prefix", e.Reference, r.refDigits, r.cpDigits)
		}
		if ref, ok = digitsValue(e.Reference); !ok {
			return "", bad(in, "reference %q is not all digits", e.Reference)
		}
	}
	var tail uint64
	if l.tailIsNum {
		tail, ok = integer(e.Serial)
		if !ok || tail >= 1<<uint(l.tailBits) {
			return "", bad(in, "serial %q: want an integer without leading zeros below 2^%d", e.Serial, l.tailBits)
		}
	} else if e.Serial != "" {
		return "", bad(in, "%s has no serial field", e.Scheme)
	}
	var b [12]byte
	b[0] = l.header
	putBits(&b, 8, 3, uint64(e.Filter))
	putBits(&b, 11, 3, uint64(p))
	putBits(&b, 14, r.cpBits, cp)
	putBits(&b, 14+r.cpBits, r.refBits, ref)
	putBits(&b, 14+r.cpBits+r.refBits, l.tailBits, tail)
	return strings.ToUpper(hex.EncodeToString(b[:])), nil
}

// digitsValue reads a string of 0 to 19 decimal digits (leading zeros allowed).
func digitsValue(s string) (uint64, bool) {
	if len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// integer reads a decimal integer as TDS writes serials: digits, no leading
// zero unless the value is 0.
func integer(s string) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// Parse reads a tag URI (urn:epc:tag:sgtin-96:3.0614141.812345.6789) or a
// pure identity URI (urn:epc:id:sgtin:0614141.812345.6789; its filter is 0,
// since a pure identity has none) and checks that it fits the 96-bit scheme.
func Parse(uri string) (EPC, error) {
	var e EPC
	var l *layout
	var fields []string
	switch {
	case strings.HasPrefix(uri, "urn:epc:tag:"):
		scheme, rest, ok := strings.Cut(strings.TrimPrefix(uri, "urn:epc:tag:"), ":")
		if l = byScheme(Scheme(scheme)); !ok || l == nil {
			return EPC{}, bad(uri, "tag URI scheme %q is not one of sgtin-96, sscc-96, sgln-96, grai-96, giai-96", scheme)
		}
		fields = strings.Split(rest, ".")
		if len(fields[0]) != 1 || fields[0][0] < '0' || fields[0][0] > '7' {
			return EPC{}, bad(uri, "filter %q: want one digit 0 to 7", fields[0])
		}
		e.Filter = int(fields[0][0] - '0')
		fields = fields[1:]
	case strings.HasPrefix(uri, "urn:epc:id:"):
		name, rest, ok := strings.Cut(strings.TrimPrefix(uri, "urn:epc:id:"), ":")
		for _, c := range layouts {
			if c.idName == name {
				l = c
			}
		}
		if !ok || l == nil {
			return EPC{}, bad(uri, "pure identity scheme %q is not one of sgtin, sscc, sgln, grai, giai", name)
		}
		fields = strings.Split(rest, ".")
	default:
		return EPC{}, bad(uri, "not an EPC URI: want urn:epc:id:… or urn:epc:tag:…")
	}
	want := 2
	if l.tailIsNum {
		want = 3
	}
	if len(fields) != want {
		return EPC{}, bad(uri, "want %d dot-separated fields after the scheme, got %d", want, len(fields))
	}
	e.Scheme, e.CompanyPrefix, e.Reference = l.scheme, fields[0], fields[1]
	if l.tailIsNum {
		e.Serial = fields[2]
	}
	if _, err := e.Hex(); err != nil {
		return EPC{}, bad(uri, "%s", err.(*Error).Reason)
	}
	return e, nil
}

// Normalize turns what a user may give for an EPC (hex, a pure identity URI
// or a tag URI) into its pure identity URI.
func Normalize(s string) (string, error) {
	if strings.HasPrefix(s, "urn:") {
		e, err := Parse(s)
		if err != nil {
			return "", err
		}
		return e.URI(), nil
	}
	e, err := Decode(s)
	if err != nil {
		return "", err
	}
	return e.URI(), nil
}
