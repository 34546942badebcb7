package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
)

// ContentTypeBatch is the CloudEvents HTTP binding's batch mode: a JSON array
// of structured events, used for digests.
const ContentTypeBatch = "application/cloudevents-batch+json"

// HeaderDigestID names a digest: the same range of events always has the
// same id, so a receiver that sees it twice (a process died between the POST
// and recording it) can drop the second.
const HeaderDigestID = "Crossdock-Digest-Id"

// Endpoint is one webhook: an account's or a warehouse's.
type Endpoint struct {
	Account   string // set for an account's endpoint
	Warehouse string // set for a warehouse's endpoint
	URL       string
	Secret    string
}

// Name is "account <id>" or "warehouse <id>", for logs and errors.
func (e Endpoint) Name() string {
	if e.Warehouse != "" {
		return "warehouse " + e.Warehouse
	}
	return "account " + e.Account
}

// Subject is the XD_OUT filter of the events the endpoint receives.
func (e Endpoint) Subject() string {
	if e.Warehouse != "" {
		return bus.WarehouseSubject(e.Warehouse, ">")
	}
	return bus.OutSubject(e.Account, ">")
}

// Durable is the name of the endpoint's durable consumer on XD_OUT. The
// acct- and wh- prefixes keep an account named like a warehouse (or like the
// experiment mirror's consumers) from sharing a consumer with it.
func (e Endpoint) Durable() string {
	if e.Warehouse != "" {
		return "delivery-wh-" + e.Warehouse
	}
	return "delivery-acct-" + e.Account
}

// Sender is who the endpoint receives events for: its dead letters go to
// that sender's DLQ subjects.
func (e Endpoint) Sender() bus.Sender { return bus.Sender{Account: e.Account, Warehouse: e.Warehouse} }

// redactedURL is the URL without a password, for logs and dead letters.
func (e Endpoint) redactedURL() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return "(unparseable url)"
	}
	u.RawQuery = "" // query strings often carry tokens
	return u.Redacted()
}

// Retry says how hard a delivery is tried before it is dead-lettered.
type Retry struct {
	// Attempts is the most POSTs per event; zero means 10, about 4 to 9 minutes of backoff with the default delays.
	Attempts int
	// MaxAge is how long after its first attempt an event is still retried;
	// zero means 24h.
	MaxAge time.Duration
	// Base is the delay before the second attempt; each further delay
	// doubles, up to Max, and is jittered down by up to half, so that
	// endpoints coming back are not hit by every process at once. Zero
	// means 1s (Base) and 5m (Max).
	Base, Max time.Duration
	// Timeout bounds one POST; zero means 30s.
	Timeout time.Duration
}

func (r *Retry) defaults() {
	if r.Attempts <= 0 {
		r.Attempts = 10
	}
	if r.MaxAge <= 0 {
		r.MaxAge = 24 * time.Hour
	}
	if r.Base <= 0 {
		r.Base = time.Second
	}
	if r.Max <= 0 {
		r.Max = 5 * time.Minute
	}
	if r.Max < r.Base {
		r.Max = r.Base
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
}

// Backoff is the delay after failed attempt n (1-based): Base·2^(n-1), at
// most Max, with up to half of it taken off at random ("equal jitter").
func (r Retry) Backoff(n int) time.Duration {
	r.defaults()
	d := r.Base
	for i := 1; i < n && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return d - half + rand.N(half+1)
}

// Payload is one request body and its headers, signed afresh per attempt.
type Payload struct {
	Header http.Header
	Body   []byte
}

// BinaryPayload writes ev in the CloudEvents HTTP binding's binary mode:
// attributes and extensions as ce- headers, the data as the body with its
// content type, the way sdk-go's HTTP receiver reads it.
func BinaryPayload(ev *event.Event) Payload {
	h := http.Header{}
	// HTTP binding 3.1.3.2: non-ASCII and % are percent-encoded.
	bus.Attributes(ev, func(name, value string) { h.Set(name, headerEncode(value)) })
	ct := ev.DataContentType()
	if ct == "" {
		ct = event.ApplicationJSON
	}
	h.Set("Content-Type", ct)
	return Payload{Header: h, Body: ev.Data()}
}

func headerEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' || c == '"' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// BatchPayload writes events in the batch mode: one JSON array of
// structured events.
func BatchPayload(events []*event.Event, digestID string) (Payload, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return Payload{}, fmt.Errorf("encode digest: %w", err)
	}
	h := http.Header{}
	h.Set("Content-Type", ContentTypeBatch)
	h.Set(HeaderDigestID, digestID)
	return Payload{Header: h, Body: body}, nil
}

// Response is what the endpoint answered to one attempt.
type Response struct {
	Status     int           // 0 when there was no answer
	Body       string        // the first KiB of the answer
	Err        error         // the network error, when there was no answer
	RetryAfter time.Duration // from a 429 or 503's Retry-After
}

// String is the answer as operators read it in logs and dead letters.
func (r Response) String() string {
	if r.Status == 0 {
		return fmt.Sprintf("no response: %v", r.Err)
	}
	return fmt.Sprintf("HTTP %d %s", r.Status, strings.TrimSpace(r.Body))
}

// retryable reports whether another attempt can help: network errors, 408,
// 429 and 5xx. Any other status below 200 or from 300 up is permanent.
func (r Response) retryable() bool {
	return r.Status == 0 || r.Status == http.StatusRequestTimeout || r.Status == http.StatusTooManyRequests || r.Status >= 500
}

func (r Response) ok() bool { return r.Status >= 200 && r.Status < 300 }

// Outcome is how a delivery ended.
type Outcome struct {
	Delivered   bool
	Permanent   bool // refused with a 4xx that retrying cannot change
	Interrupted bool // stopped by shutdown between attempts; deliver again later
	Attempts    int
	Last        Response
}

// Sender POSTs payloads to endpoints with signatures and retries. It is safe
// for concurrent use.
type Sender struct {
	Client *http.Client
	Retry  Retry
	// Now is the clock used for signatures; nil means time.Now.
	Now func() time.Time

	// observe, when set, is told the answer to every attempt (metrics).
	observe func(Response)

	// wait sleeps between attempts; tests record the delays instead.
	wait func(ctx context.Context, d time.Duration, tick func()) bool
}

// NewSender returns a sender with its own HTTP client.
func NewSender(r Retry) *Sender {
	r.defaults()
	return &Sender{
		Client: &http.Client{
			Timeout: r.Timeout,
			// Redirects are not followed: a webhook that moved is a
			// configuration change, and a redirect must not carry the
			// signed body somewhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second},
		},
		Retry: r,
	}
}

// Deliver POSTs p to ep until it is accepted (2xx), refused for good (a 4xx
// other than 408 and 429), or the attempts or age of the retry policy run
// out. Between attempts it waits with jittered exponential backoff, or as
// long as a Retry-After asks. progress, when set, is called before every
// attempt and every second of waiting (to tell JetStream the message is
// still being worked on). When ctx ends during a wait, the outcome is
// Interrupted; an attempt already started is finished first.
func (s *Sender) Deliver(ctx context.Context, ep Endpoint, p Payload, progress func()) Outcome {
	r := s.Retry
	r.defaults()
	first := time.Now()
	var out Outcome
	for {
		if progress != nil {
			progress()
		}
		out.Attempts++
		out.Last = s.post(context.WithoutCancel(ctx), ep, p)
		if s.observe != nil {
			s.observe(out.Last)
		}
		if out.Last.ok() {
			out.Delivered = true
			return out
		}
		if !out.Last.retryable() {
			out.Permanent = true
			return out
		}
		if out.Attempts >= r.Attempts {
			return out
		}
		wait := r.Backoff(out.Attempts)
		if out.Last.RetryAfter > 0 {
			wait = out.Last.RetryAfter
		}
		if time.Since(first)+wait > r.MaxAge {
			return out
		}
		sleepFn := sleep
		if s.wait != nil {
			sleepFn = s.wait
		}
		if !sleepFn(ctx, wait, progress) {
			out.Interrupted = true
			return out
		}
	}
}

// sleep waits d, calling tick every second, and reports false when ctx ended
// first.
func sleep(ctx context.Context, d time.Duration, tick func()) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		t := time.NewTimer(min(left, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
			if tick != nil && time.Until(deadline) > 0 {
				tick()
			}
		}
	}
}

// post makes one signed attempt.
func (s *Sender) post(ctx context.Context, ep Endpoint, p Payload) Response {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(p.Body))
	if err != nil {
		return Response{Err: fmt.Errorf("build request: %w", err)}
	}
	for k, v := range p.Header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "crossdock-delivery/1")
	req.Header.Set(HeaderSignature, Sign(ep.Secret, now(), p.Body))
	resp, err := s.Client.Do(req)
	if err != nil {
		// The url.Error around it names the URL, which may hold a token.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return Response{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	out := Response{Status: resp.StatusCode, Body: string(body)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now())
	}
	return out
}

// ParseRetryAfter reads a Retry-After value (RFC 9110 10.2.3): delay seconds
// or an HTTP date. It returns zero when the value is absent or unreadable,
// and never more than a day.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		if n > 86400 {
			n = 86400
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, 24*time.Hour))
}
