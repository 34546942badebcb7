package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/intake"
)

// checkHeaders applies the attribute limits to the ce- headers of a
// binary-mode message, before anything decodes it, and bounds the headers
// as a whole: a message whose headers do not fit (with room for the
// Crossdock-Dlq-* headers of its dead letter) could be neither answered nor
// dead-lettered. It returns the message's id (its ce-id) unless the id is
// the problem.
func checkHeaders(h map[string][]string) (id string, p *bus.Problem) {
	total, attrs := 0, 0
	largest, largestLen := "", -1
	var tooLong *bus.Problem
	for k, vs := range h {
		for _, v := range vs {
			total += len(k) + len(v)
			if len(k) < 3 || !strings.EqualFold(k[:3], "ce-") {
				continue
			}
			name := strings.ToLower(k[3:])
			attrs += len(name) + len(v)
			if name == "id" {
				id = v
				continue
			}
			if len(v) > intake.MaxAttributeBytes && tooLong == nil {
				tooLong = intake.TooLarge(name, len(v), intake.MaxAttributeBytes)
			}
			if len(v) > largestLen {
				largest, largestLen = name, len(v)
			}
		}
	}
	switch {
	case len(id) > intake.MaxIDBytes:
		return "", intake.TooLarge("id", len(id), intake.MaxIDBytes)
	case !utf8.ValidString(id):
		return "", &bus.Problem{Code: bus.CodeSchemaViolation, Message: "id is not valid UTF-8", Field: "id"}
	case tooLong != nil:
		return id, tooLong
	case attrs > intake.MaxAttributesBytes:
		return id, &bus.Problem{Code: bus.CodeAttributeTooLarge, Field: largest,
			Message: fmt.Sprintf("the attributes together are %d bytes; the limit is %d (the largest is %s)", attrs, intake.MaxAttributesBytes, largest)}
	case total > MaxHeaderBytes:
		return id, &bus.Problem{Code: bus.CodeAttributeTooLarge, Field: "headers",
			Message: fmt.Sprintf("the message's headers are %d bytes; the limit is %d", total, MaxHeaderBytes)}
	}
	return id, nil
}

// MaxHeaderBytes bounds all the headers of a message published to the hub
// over NATS, attributes and others: twice the attributes' limit, well
// inside JetStream's 64 KiB, so that a dead letter (the original's headers
// and the reason) always fits.
const MaxHeaderBytes = 2 * intake.MaxAttributesBytes

// structuredID reads the id attribute of a structured-mode event (a JSON
// object) without decoding the rest: it walks the top level of the object,
// skipping every other member's value, and decodes only the id's string.
// The last id wins, as in the CloudEvents SDK. ok is false when b is not a
// JSON object or its id is not a string; raw is the id's bytes as sent
// (still escaped), for the UTF-8 check the decoded string cannot make
// (encoding/json replaces invalid bytes with U+FFFD).
func structuredID(b []byte) (id string, raw []byte, ok bool) {
	found, bad := false, false
	if !eachMember(b, func(key string, start, end int) {
		if key != "id" {
			return
		}
		if b[start] != '"' {
			bad = true
			return
		}
		raw, found = b[start+1:end-1], true
	}) || bad {
		return "", nil, false
	}
	if !found {
		return "", nil, true
	}
	if !strings.ContainsRune(string(raw), '\\') {
		return string(raw), raw, true
	}
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &id); err != nil {
		return "", nil, false
	}
	return id, raw, true
}

// eachMember walks the top level of the JSON object b without decoding it,
// calling fn with each member's key and where its value starts and ends. A
// key is decoded only when it holds an escape and is short enough to be an
// attribute's name (an escaped "id" is "\u0069d"). It reports false when b
// is not an object it can read.
func eachMember(b []byte, fn func(key string, start, end int)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		end := skipString(b, i)
		if end < 0 {
			return false
		}
		key := string(b[i+1 : end-1])
		if strings.Contains(key, `\`) && len(key) <= 6*len("specversion") {
			var k string
			if json.Unmarshal(b[i:end], &k) == nil {
				key = k
			}
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return false
		}
		fn(key, i, vend)
		i = skipSpace(b, vend)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return true
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
	return false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i] ('"'),
// or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
// It counts brackets outside strings and trusts the caller for the rest:
// what it accepts that is not JSON, the full decode downstream refuses.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
