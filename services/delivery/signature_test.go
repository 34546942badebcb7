package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifyAcceptsOnlyTheRightSignature(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"po_number":"PO-1"}`)
	good := Sign("secret", now, body)
	tests := []struct {
		name   string
		header string
		secret string
		body   []byte
		ok     bool
	}{
		{name: "the signature of the body with the secret verifies", header: good, secret: "secret", body: body, ok: true},
		{name: "a second v1 during a secret rotation verifies", header: Sign("old", now, body) + ",v1=" + strings.Split(good, "v1=")[1], secret: "secret", body: body, ok: true},
		{name: "another secret does not", header: good, secret: "other", body: body},
		{name: "a changed body does not", header: good, secret: "secret", body: []byte(`{"po_number":"PO-2"}`)},
		{name: "an old timestamp does not", header: Sign("secret", now.Add(-time.Hour), body), secret: "secret", body: body},
		{name: "a header without v1 does not", header: "t=1800000000", secret: "secret", body: body},
		{name: "an empty header does not", header: "", secret: "secret", body: body},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.header, tc.secret, tc.body, now, 0)
			if tc.ok && err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{name: "seconds are read as seconds", in: "120", want: 2 * time.Minute},
		{name: "an HTTP date is read as the time until it", in: "Tue, 24 Nov 2026 10:00:30 GMT", want: 30 * time.Second},
		{name: "a date in the past means no wait", in: "Tue, 24 Nov 2026 09:00:00 GMT"},
		{name: "garbage means no wait", in: "soon"},
		{name: "a negative number means no wait", in: "-5"},
		{name: "a week is capped at a day", in: "604800", want: 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("ParseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(Sign("k", time.Unix(1_800_000_000, 0), []byte("{}")))
	f.Add("t=1,v1=zz")
	f.Add("v0=abc,t=12,v1=" + strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, h string) {
		s, err := ParseSignature(h)
		if err != nil {
			return
		}
		if len(s.V1) == 0 {
			t.Errorf("ParseSignature(%q) accepted a header without v1", h)
		}
		_ = Verify(h, "k", []byte("{}"), time.Now(), 0)
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Tue, 24 Nov 2026 10:00:30 GMT")
	f.Add("-1")
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, time.Now()); d < 0 || d > 24*time.Hour {
			t.Errorf("ParseRetryAfter(%q) = %s, want 0 to 24h", v, d)
		}
	})
}
