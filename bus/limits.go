package bus

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStreamMaxBytes is what each of the hub's streams but XD_OUT may
// hold when the operator names no limit (--stream-max-bytes). A five-line
// order takes about 0.7 KiB in XD_IN and in XD_ROUTED and 2.7 KiB of
// answers in XD_OUT (measured, docs/operations.md), which keeps them a month
// (XD_OUT's age; DefaultOutMaxBytes) or a week: at these defaults the age,
// not the bytes, bounds the streams up to about 50,000 orders a day, and
// all five reserve 8 GiB of the server's JetStream storage, which a small
// disk still has.
const DefaultStreamMaxBytes = 1 << 30

// DefaultOutMaxBytes is XD_OUT's default limit: it keeps answers 30 days,
// where the other flow streams keep a week, and holds about four times the
// bytes per order.
const DefaultOutMaxBytes = 4 << 30

// Unlimited, as a stream's limit, lets it grow until its messages age out
// (MaxAge) or the disk is full.
const Unlimited = -1

// StreamLimits are the bytes each of the hub's streams may hold (JetStream's
// MaxBytes), so that a flood, by one account or many, fills at most that
// much of the disk. What a full stream does depends on its discard policy
// (discardPolicy): intake and flow streams refuse new messages, the DLQ
// drops its oldest letters.
type StreamLimits struct {
	// Default is every stream's limit; 0 means DefaultStreamMaxBytes
	// (DefaultOutMaxBytes for XD_OUT), Unlimited none.
	Default int64
	// Streams overrides Default by stream name (XD_IN, XD_DLQ, …).
	Streams map[string]int64
}

// MaxBytes is stream's limit as JetStream's MaxBytes: Unlimited (-1) for
// none.
func (l StreamLimits) MaxBytes(stream string) int64 {
	n, ok := l.Streams[stream]
	if !ok {
		n = l.Default
	}
	switch {
	case n == 0 && stream == StreamOut:
		return DefaultOutMaxBytes
	case n == 0:
		return DefaultStreamMaxBytes
	case n < 0:
		return Unlimited
	}
	return n
}

// streamNames are the hub's streams, in the order Setup makes them.
var streamNames = []string{StreamIn, StreamRouted, StreamOut, StreamDLQ, StreamRaw}

// discardPolicy is what a full stream does. Every stream but the DLQ refuses
// a new message (DiscardNew): what they hold was acknowledged to its sender
// or is waiting for a consumer, and deleting it to make room would lose an
// event nobody refused; the publisher is told instead (a 507 at the gateway,
// JetStream's "maximum bytes exceeded" over NATS, a transient failure in
// Consume, retried then dead-lettered). The DLQ drops its oldest letters
// (DiscardOld): a letter is the last copy of an event that failed, and a
// refused letter could not be kept anywhere, while the oldest letters have
// been there longest for an operator to see.
func discardPolicy(stream string) jetstream.DiscardPolicy {
	if stream == StreamDLQ {
		return jetstream.DiscardOld
	}
	return jetstream.DiscardNew
}

// ParseStreamLimits reads --stream-max-bytes: a size for every stream, then
// optional per-stream overrides, comma-separated: "1GiB", "1GiB,XD_DLQ=4GiB",
// "XD_OUT=2GiB" (the others keep the default). A size is a number of bytes
// with an optional unit (KiB, MiB, GiB, TiB, or KB, MB, GB, TB); 0, -1 or
// "unlimited" is no limit.
func ParseStreamLimits(s string) (StreamLimits, error) {
	var l StreamLimits
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, size, named := strings.Cut(part, "=")
		if !named {
			size, name = name, ""
		}
		n, err := parseSize(strings.TrimSpace(size))
		if err != nil {
			return StreamLimits{}, err
		}
		if !named {
			l.Default = n
			continue
		}
		name = strings.ToUpper(strings.TrimSpace(name))
		if !slices.Contains(streamNames, name) {
			return StreamLimits{}, fmt.Errorf("stream %q: want one of %s", name, strings.Join(streamNames, ", "))
		}
		if l.Streams == nil {
			l.Streams = map[string]int64{}
		}
		l.Streams[name] = n
	}
	return l, nil
}

// String writes l back in ParseStreamLimits's form, every stream's limit
// as it is (the flag's default in the help: "1GiB,XD_OUT=4GiB").
func (l StreamLimits) String() string {
	parts := []string{formatSize(l.MaxBytes(""))}
	for _, name := range streamNames {
		if n := l.MaxBytes(name); n != l.MaxBytes("") {
			parts = append(parts, name+"="+formatSize(n))
		}
	}
	return strings.Join(parts, ",")
}

// Set parses s into l, so that StreamLimits is a flag.Value.
func (l *StreamLimits) Set(s string) error {
	v, err := ParseStreamLimits(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// sizeUnits are the units parseSize reads, longest suffix first.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize reads a size: Unlimited for 0, a negative number or
// "unlimited".
func parseSize(s string) (int64, error) {
	if strings.EqualFold(s, "unlimited") {
		return Unlimited, nil
	}
	num, unit := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit (KiB, MiB, GiB, TiB), or unlimited", s)
	}
	if n <= 0 {
		return Unlimited, nil
	}
	if n > (1<<62)/unit {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * unit, nil
}

// formatSize writes n in the largest binary unit that divides it.
func formatSize(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		suffix string
		bytes  int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// FitDefaults returns the limits the defaults become on a server whose
// JetStream storage is maxStore bytes: unchanged when the five defaults
// (8 GiB) take at most half of it, else each scaled down alike so that they
// do, and not below 1 MiB. JetStream reserves every stream's limit at
// creation, so on a small disk (a laptop, a CI runner) the defaults would
// keep `go run ./cmd/crossdock` from starting; an operator who names
// --stream-max-bytes gets exactly that instead. fitted reports whether
// anything was scaled.
func FitDefaults(maxStore int64) (l StreamLimits, fitted bool) {
	var total int64
	for _, s := range streamNames {
		total += StreamLimits{}.MaxBytes(s)
	}
	budget := maxStore / 2
	if maxStore <= 0 || total <= budget {
		return StreamLimits{}, false
	}
	l.Streams = make(map[string]int64, len(streamNames))
	for _, s := range streamNames {
		l.Streams[s] = max(int64(float64(StreamLimits{}.MaxBytes(s))*float64(budget)/float64(total)), 1<<20)
	}
	return l, true
}

// IsZero reports whether l names no limit at all: every stream gets its
// default.
func (l StreamLimits) IsZero() bool { return l.Default == 0 && len(l.Streams) == 0 }
