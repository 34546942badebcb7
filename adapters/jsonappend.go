package adapters

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// jsonAppender is data that writes its own JSON, byte for byte what
// encoding/json.Marshal writes for it, without reflection: the order data
// of a partner file of thousands of orders spent a fifth of its decode in
// encoding/json (profile in docs/performance.md).
type jsonAppender interface {
	AppendJSON(b []byte) []byte
}

// AppendJSON appends o as encoding/json.Marshal writes it.
func (o Order) AppendJSON(b []byte) []byte {
	// One allocation for the whole order: its fixed text is about 60
	// bytes, a line's about 60 plus its strings.
	size := 64 + len(o.PONumber) + len(o.ShipTo) + len(o.RequestedDate) + len(o.Pickup)
	for i := range o.Lines {
		size += 64 + len(o.Lines[i].GTIN) + len(o.Lines[i].Unit)
	}
	b = slices.Grow(b, size)
	b = append(b, `{"po_number":`...)
	b = appendJSONString(b, o.PONumber)
	b = append(b, `,"ship_to":`...)
	b = appendJSONString(b, o.ShipTo)
	b = append(b, `,"requested_date":`...)
	b = appendJSONString(b, o.RequestedDate)
	b = append(b, `,"lines":`...)
	if o.Lines == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range o.Lines {
			l := &o.Lines[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"line":`...)
			b = strconv.AppendInt(b, int64(l.Line), 10)
			b = append(b, `,"gtin":`...)
			b = appendJSONString(b, l.GTIN)
			b = append(b, `,"quantity":`...)
			b = appendJSONFloat(b, l.Quantity)
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, l.Unit)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if o.Pickup != "" {
		b = append(b, `,"pickup":`...)
		b = appendJSONString(b, o.Pickup)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// jsonSafe says which ASCII bytes encoding/json writes as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendJSONString appends s quoted as encoding/json does: HTML-safe (<, >
// and & escaped), U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD. It is
// for adapters' own AppendJSON methods: data with one, NewEvent writes
// without reflection.
func AppendJSONString(b []byte, s string) []byte {
	return appendJSONString(b, s)
}

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json writes a float64 (the
// shortest representation, exponent form outside 1e-6 to 1e21). NaN and
// infinities, which encoding/json refuses, never reach it: quantities are
// parsed from decimal text.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	if abs < 1e15 && f == math.Trunc(f) && f != 0 {
		// A whole number (most quantities): 'f' with the shortest precision
		// writes its digits and no point, as AppendInt does, faster.
		return strconv.AppendInt(b, int64(f), 10)
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
