package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HeaderSignature is the request header that carries a delivery's signature:
//
//	Crossdock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
// The HMAC is keyed with the endpoint's webhook secret over the timestamp, a
// full stop and the exact request body ("<t>.<body>"), as Stripe and
// Standard Webhooks do: signing the timestamp lets a receiver refuse a replay
// of an old request, and signing the raw body means the receiver verifies
// before it parses. More than one v1= may appear while a secret is rotated.
const HeaderSignature = "Crossdock-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock before Verify refuses it.
const DefaultTolerance = 5 * time.Minute

// Sign returns the Crossdock-Signature value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Signature is a parsed Crossdock-Signature header.
type Signature struct {
	Timestamp time.Time
	V1        []string // hex digests
}

// ErrBadSignature is returned by Verify for a header that does not match the
// body and secret, or whose timestamp is outside the tolerance.
var ErrBadSignature = errors.New("bad signature")

// ParseSignature reads a Crossdock-Signature header value. Unknown schemes
// (v0=, v2=) are skipped so that the header can grow.
func ParseSignature(header string) (Signature, error) {
	var s Signature
	seenT := false
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Signature{}, fmt.Errorf("signature header: %q is not key=value", part)
		}
		switch k {
		case "t":
			if seenT {
				return Signature{}, errors.New("signature header: t given twice")
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Signature{}, fmt.Errorf("signature header: t=%q is not unix seconds", v)
			}
			s.Timestamp, seenT = time.Unix(n, 0), true
		case "v1":
			if len(v) != sha256.Size*2 {
				return Signature{}, fmt.Errorf("signature header: v1 is not %d hex digits", sha256.Size*2)
			}
			if _, err := hex.DecodeString(v); err != nil {
				return Signature{}, fmt.Errorf("signature header: v1 is not hex")
			}
			s.V1 = append(s.V1, strings.ToLower(v))
		}
	}
	if !seenT {
		return Signature{}, errors.New("signature header: no t=")
	}
	if len(s.V1) == 0 {
		return Signature{}, errors.New("signature header: no v1=")
	}
	return s, nil
}

// Verify checks a Crossdock-Signature header against the raw request body,
// the shared secret and the receiver's clock: what a receiver runs before it
// trusts a delivery. tolerance zero means DefaultTolerance.
func Verify(header, secret string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	s, err := ParseSignature(header)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if d := now.Sub(s.Timestamp); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %s from now", ErrBadSignature, s.Timestamp.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want := mac(secret, strconv.FormatInt(s.Timestamp.Unix(), 10), body)
	for _, got := range s.V1 {
		if hmac.Equal([]byte(got), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 matches the body", ErrBadSignature)
}
