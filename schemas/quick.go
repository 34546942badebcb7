package schemas

// Quick checks: a reader's rfid.observed batch holds hundreds of reads, and
// the generic path decodes every read into maps and runs the schema's
// keywords on each (the router's validation was 8 % of the CPU of the RFID
// storm benchmark). A quick check reads the bytes once and answers true only
// for data of the plainest shape, which it proves valid: ASCII strings
// without escapes, short plain numbers, no duplicate or unknown keys. For
// anything else it answers false, and Validate takes the generic path, which
// finds the violations and words them: the quick check never changes an
// answer, it only skips work for clean data (FuzzQuickObservedAgreesWithSchema
// holds it to that).

// quick holds the quick check of each event type that has one.
var quick = map[string]func(data []byte) bool{
	RFIDObserved: quickObserved,
}

// quickObserved proves data a valid crossdock.rfid.observed.v1 of the plain
// shape: {"reader": …, "read_point": …, "reads": [{"epc": …, "time": …,
// "antenna": …, "rssi": …}, …]} in any key order.
func quickObserved(data []byte) bool {
	p := scanner{b: data}
	var reader, readPoint, reads bool
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "reader":
			s, ok := p.plainString()
			if !ok || reader || len(s) < 1 || len(s) > 64 {
				return false
			}
			reader = true
		case "read_point":
			s, ok := p.plainString()
			if !ok || readPoint || !(isGLN(string(s)) || isSGLNURI(s)) {
				return false
			}
			readPoint = true
		case "reads":
			if reads || !p.quickReads() {
				return false
			}
			reads = true
		default:
			return false
		}
		return true
	})
	p.space()
	return ok && reader && readPoint && reads && p.i == len(p.b)
}

// quickReads reads the reads array: 1 to 10,000 plain reads.
func (p *scanner) quickReads() bool {
	if !p.byte('[') {
		return false
	}
	n := 0
	for {
		if p.byte(']') {
			break
		}
		if n > 0 && !p.byte(',') {
			return false
		}
		if !p.quickRead() {
			return false
		}
		n++
	}
	return n >= 1 && n <= 10000
}

// quickRead reads one read: epc and time, antenna and rssi optional.
func (p *scanner) quickRead() bool {
	var epc, tm, antenna, rssi bool
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "epc":
			s, ok := p.plainString()
			if !ok || epc || !isHexEPC(s) {
				return false
			}
			epc = true
		case "time":
			s, ok := p.plainString()
			if !ok || tm || !isDateTime(s) {
				return false
			}
			tm = true
		case "antenna":
			if antenna || !p.plainNumber(false) {
				return false
			}
			antenna = true
		case "rssi":
			if rssi || !p.plainNumber(true) {
				return false
			}
			rssi = true
		default:
			return false
		}
		return true
	})
	return ok && epc && tm
}

// object reads an object of the plain shape, handing each key to member
// once its colon is read; member reads the value. False when the object is
// not of that shape or member refuses a member.
func (p *scanner) object(member func(key []byte) bool) bool {
	if !p.byte('{') {
		return false
	}
	for first := true; !p.byte('}'); first = false {
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.plainString()
		if !ok || !p.byte(':') || !member(key) {
			return false
		}
	}
	return true
}

// scanner reads JSON tokens of the plain shape from b.
type scanner struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (p *scanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// byte skips whitespace and reads c, if it comes next.
func (p *scanner) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII without escapes, and
// returns its bytes (in b: nothing is copied).
func (p *scanner) plainString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		c := p.b[p.i]
		if c == '"' {
			s := p.b[start:p.i]
			p.i++
			return s, true
		}
		if c < 0x20 || c > 0x7e || c == '\\' {
			return nil, false
		}
	}
	return nil, false
}

// plainNumber reads a non-negative integer of at most 9 digits, or with
// frac a number -?int(.digits)? of at most 9 digits on either side; no
// exponent.
func (p *scanner) plainNumber(frac bool) bool {
	p.space()
	if frac && p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	if !p.digits(9, true) {
		return false
	}
	if frac && p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		return p.digits(9, false)
	}
	return true
}

// digits reads 1 to max digits; with noLead, a number's integer part, so
// no leading zero before another digit.
func (p *scanner) digits(max int, noLead bool) bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - start
	if n < 1 || n > max {
		return false
	}
	return !noLead || n == 1 || p.b[start] != '0'
}

// isGLN reports whether s is 13 digits with a valid check digit (format
// "gln").
func isGLN(s string) bool {
	return len(s) == 13 && allDigits(s) && checkDigit(s) == nil
}

// isSGLNURI reports whether s matches the read point's pattern
// ^urn:epc:id:sgln:[0-9]+\.[0-9]*\.[!-~]*$.
func isSGLNURI(s []byte) bool {
	const prefix = "urn:epc:id:sgln:"
	if len(s) < len(prefix) || string(s[:len(prefix)]) != prefix {
		return false
	}
	s = s[len(prefix):]
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i == len(s) || s[i] != '.' {
		return false
	}
	i++
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == len(s) || s[i] != '.' {
		return false
	}
	for i++; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// isHexEPC reports whether s matches ^([0-9A-Fa-f]{2}){2,64}$.
func isHexEPC(s []byte) bool {
	if len(s) < 4 || len(s) > 128 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isDateTime reports whether s is an RFC 3339 date-time of the plain form
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM), with a day that exists and no
// leap second: a subset of what the "date-time" format accepts.
func isDateTime(s []byte) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case string(rest) == "Z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zh, ok1 := num(rest[1:3])
		zm, ok2 := num(rest[4:6])
		return ok1 && ok2 && zh <= 23 && zm <= 59
	}
	return false
}

// num reads s, all digits, as a number.
func num(s []byte) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysIn is the number of days of month in year, proleptic Gregorian, as
// the "date" format's time.Parse counts them.
func daysIn(month, year int) int {
	switch month {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}
