package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What JetStream and the bus allow a stored message's headers. Whatever an
// event carries (a hostile client with stream access can store headers
// just under JetStream's limit, or a 70 KB id in a structured body), the
// bus's own answers and dead letters about it must still be storable, or
// the message could never be settled and would hold a consumer's
// MaxAckPending slot forever (docs/security.md).
const (
	// maxStoredHeader is JetStream's limit on the headers of a stored
	// message (nats-server stream.go: len(hdr) > math.MaxUint16 is refused
	// with "header size exceeds maximum allowed of 64k").
	maxStoredHeader = 1<<16 - 1
	// headerBudget is what the bus lets the headers of an answer or a dead
	// letter take: half of JetStream's limit, so that the Nats-Msg-Id and
	// the Crossdock-Dlq-* headers always have room.
	headerBudget = maxStoredHeader / 2
	// headerValueMax is the longest header value the bus copies into an
	// answer or a dead letter; longer values are cut with a marker. Every
	// value a well-behaved client sends (ids ≤ 256 bytes, attributes ≤ 1
	// KiB at the door) is far below it.
	headerValueMax = 4 << 10
	// headerNameMax is the longest header name copied; longer ones are
	// dropped (no CloudEvents attribute name comes close).
	headerNameMax = 256
	// problemMessageMax bounds each problem's message in a dead letter's
	// Crossdock-Dlq-Errors header and in an event.rejected's data: a message
	// may quote the value at fault.
	problemMessageMax = 1 << 10
	// problemsMax bounds the Crossdock-Dlq-Errors header as a whole.
	problemsMax = 8 << 10
	// logValueMax bounds a value the bus puts in a log line (an id, a
	// subject): never a whole hostile attribute.
	logValueMax = 256
)

// HeaderDLQTrimmed, on a dead letter, says what the bus cut from the
// original so that the letter could be stored: header values cut to
// headerValueMax, headers dropped, the body cut. A trimmed letter is kept
// for inspection; it is not the original, so it cannot be redriven.
const HeaderDLQTrimmed = "Crossdock-Dlq-Trimmed"

// trimMarker ends a value the bus cut.
func trimMarker(n int) string { return "...[trimmed " + strconv.Itoa(n) + " bytes]" }

// cut returns s cut to at most max bytes (on a UTF-8 boundary) with a
// marker saying how long it was; s itself when it fits.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + trimMarker(len(s))
}

// Bounded returns s cut to a length fit for a log line or an error message.
func Bounded(s string) string { return cut(s, logValueMax) }

// headerSize is the size of h on the wire, as JetStream counts it: the
// NATS/1.0 status line, a "Name: value" line per value, the blank line.
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// fitHeaders trims h in place so that it takes at most budget bytes: names
// longer than headerNameMax are dropped, values longer than headerValueMax
// are cut with a marker, then, while h is still too large, the largest of
// the headers keep does not protect are dropped. It returns what it did,
// for HeaderDLQTrimmed and the log (empty when h already fitted).
func fitHeaders(h nats.Header, budget int, keep func(name string) bool) []string {
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if len(k) > headerNameMax {
			delete(h, k)
			notes = append(notes, fmt.Sprintf("header with a %d-byte name dropped", len(k)))
			continue
		}
		for i, v := range h[k] {
			if len(v) > headerValueMax {
				h[k][i] = cut(v, headerValueMax)
				notes = append(notes, fmt.Sprintf("%s cut from %d bytes", k, len(v)))
			}
		}
	}
	for headerSize(h) > budget {
		largest, size := "", -1
		for k, vs := range h {
			if keep(k) {
				continue
			}
			n := len(k)
			for _, v := range vs {
				n += len(v)
			}
			if n > size || n == size && k < largest {
				largest, size = k, n
			}
		}
		if largest == "" {
			break // only protected headers left
		}
		delete(h, largest)
		notes = append(notes, Bounded(largest)+" dropped")
	}
	return notes
}

// boundProblems returns ps with each message cut to problemMessageMax and
// each field to logValueMax, so that an answer quoting a hostile value
// stays small.
func boundProblems(ps []Problem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Code: Bounded(p.Code), Message: cut(p.Message, problemMessageMax), Field: Bounded(p.Field)}
	}
	return out
}

// problemsHeader is the Crossdock-Dlq-Errors value for ps: valid JSON of at
// most problemsMax bytes, the first problems kept when not all fit.
func problemsHeader(ps []Problem) string {
	ps = boundProblems(ps)
	for n := len(ps); n > 0; n-- {
		b, _ := json.Marshal(ps[:n])
		if len(b) <= problemsMax {
			return string(b)
		}
	}
	return "[]"
}

// fitOutput trims an answer the bus stores about a message (an
// event.rejected, a handler's outputs that go with a rejection) so that
// JetStream takes it: an attribute it copied from the cause (causationid,
// traceparent) cut with a marker. The ce-id and ce-type it makes itself
// are short; they are protected anyway.
func fitOutput(m *nats.Msg) []string {
	return fitHeaders(m.Header, headerBudget, func(name string) bool {
		return name == "ce-id" || name == "ce-type" || name == "ce-source" || name == "ce-specversion" || name == headerContentType
	})
}

// fitLetter trims a dead letter so that JetStream takes it: the original's
// headers first (values cut, then the largest dropped), then, when headers
// and body together are still larger than maxPayload, the body cut to what
// fits. The Crossdock-Dlq-* headers are kept whole; what was cut is named
// in HeaderDLQTrimmed.
func fitLetter(m *nats.Msg, maxPayload int) {
	notes := fitHeaders(m.Header, headerBudget, func(name string) bool {
		return IsLetterHeader(name) || name == headerMsgID
	})
	// Room for the Trimmed header itself and the Nats-Msg-Id the publish
	// adds: both well under a KiB.
	const slack = 2 << 10
	if room := maxPayload - headerSize(m.Header) - slack; len(m.Data) > room {
		notes = append(notes, fmt.Sprintf("body cut from %d to %d bytes", len(m.Data), max(room, 0)))
		m.Data = m.Data[:max(room, 0)]
	}
	if len(notes) > 0 {
		m.Header.Set(HeaderDLQTrimmed, cut(strings.Join(notes, "; "), headerValueMax))
	}
}

// minimalLetter is the dead letter of last resort, when even a trimmed
// copy was refused: the reason and where the message came from, and as much
// of the original body as fits in limit.
func minimalLetter(full *nats.Msg, limit int) *nats.Msg {
	h := nats.Header{}
	for k, v := range full.Header {
		if IsLetterHeader(k) || k == headerMsgID {
			h[k] = v
		}
	}
	data := full.Data
	if len(data) > limit {
		data = data[:limit]
	}
	h.Set(HeaderDLQTrimmed, fmt.Sprintf("original headers dropped; body %d bytes, kept %d", len(full.Data), len(data)))
	return &nats.Msg{Subject: full.Subject, Header: h, Data: data}
}

// Refused reports whether JetStream (or the client, before sending)
// refused a publish because of the message itself: headers over JetStream's
// 64 KiB, a message over the stream's or the server's size limit. Sending
// the same message again cannot succeed.
func Refused(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && (api.ErrorCode == jsErrCodeHeaderExceedsMaximum ||
		api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum)
}

// StreamFull reports whether JetStream refused a publish because the stream
// is at its MaxBytes or MaxMsgs limit and discards new messages (server
// error 10077 with ErrMaxBytes or ErrMaxMsgs as its description: the
// server gives these no code of their own). A later publish may succeed
// once old messages age out.
func StreamFull(err error) bool {
	var api *jetstream.APIError
	if !errors.As(err, &api) || api.ErrorCode != jsErrCodeStoreFailed {
		return false
	}
	switch api.Description {
	case "maximum bytes exceeded", "maximum messages exceeded", "maximum messages per subject exceeded":
		return true
	}
	return false
}

// nats-server error codes nats.go has no constant for
// (jetstream_errors_generated.go).
const (
	jsErrCodeHeaderExceedsMaximum jetstream.ErrorCode = 10097 // JSStreamHeaderExceedsMaximumErr
	jsErrCodeStoreFailed          jetstream.ErrorCode = 10077 // JSStreamStoreFailedF
	// JSStorageResourcesExceededErr: a stream's MaxBytes does not fit in
	// what the server may still reserve.
	jsErrCodeStorageResourcesExceeded jetstream.ErrorCode = 10047
)
