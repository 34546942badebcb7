package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/intake"
)

// Keys of the accounts of doorYAML besides those of accountsYAML.
const (
	keyGlobex  = "test-key-globex"
	keyInitech = "test-key-initech"
)

// doorYAML has two accounts in the standard lane (globex, initech), one in
// the priority lane (acme) and a stable account with a small quota
// (umbrella: two events per second, a bucket of one second).
var doorYAML = `
warehouses:
  - id: dc-east
    api_keys: ["` + accounts.HashKey(keyDCEast) + `"]
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: ["` + accounts.HashKey(keyAcme) + `"]
    locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]
  - id: globex
    name: Globex
    tier: integrated
    api_keys: ["` + accounts.HashKey(keyGlobex) + `"]
    locations: [{gln: "0614141000036", type: dc, warehouse: dc-east}]
  - id: initech
    name: Initech
    tier: emerging
    api_keys: ["` + accounts.HashKey(keyInitech) + `"]
    locations: [{gln: "0614141000043", type: dc, warehouse: dc-east}]
  - id: umbrella
    name: Umbrella Corp
    tier: stable
    api_keys: ["` + accounts.HashKey(keyUmbrella) + `"]
    locations: [{gln: "0614141000029", type: dc, warehouse: dc-east}]
    policy: {quota: {events_per_second: 2, bytes_per_second: 0, burst_seconds: 1}}
`

// clock is a settable clock for the quotas.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// doorServer is the gateway over doorYAML on a real HTTP listener.
type doorServer struct {
	*gatewayServer
	door  *Door
	clock *clock
	addr  string
}

func newDoorServer(t *testing.T, cfg DoorConfig) *doorServer {
	t.Helper()
	e := newEnvWith(t, doorYAML)
	c := &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	door := NewDoor(e.reg, cfg)
	gw := New(e.bus, e.reg, intake.NewChecker(e.reg, e.schemas, 0), door, nil, bustest.Logger(t))
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &doorServer{gatewayServer: &gatewayServer{env: e, url: srv.URL + "/v1/events"}, door: door, clock: c,
		addr: strings.TrimPrefix(srv.URL, "http://")}
}

// waitInDoor waits until n requests of from are at the door (at work or
// waiting), so that the next one finds the door full rather than queueing
// behind requests still on their way.
func (s *doorServer) waitInDoor(t *testing.T, from bus.Sender, n int) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, func() error {
		st := s.door.state(from)
		s.door.mu.Lock()
		in := len(st.working) + st.queued
		s.door.mu.Unlock()
		if in < n {
			return fmt.Errorf("%d requests at the door, want %d", in, n)
		}
		return nil
	})
}

// orderOf is a structured-mode order.placed from account to its DC.
func orderOf(t testing.TB, account, gln, id string) []byte {
	t.Helper()
	data := orderData()
	data["ship_to"] = gln
	return mustJSON(t, newEvent(t, id, "order.placed", "/accounts/"+account, "", data))
}

// problemOf decodes a problem+json answer.
func problemOf(t testing.TB, body []byte) (code, field string) {
	t.Helper()
	var p struct {
		Errors []struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &p); err != nil || len(p.Errors) == 0 {
		t.Fatalf("answer %s is not a problem with errors: %v", body, err)
	}
	return p.Errors[0].Code, p.Errors[0].Field
}

// slowPost opens a connection, sends a POST's headers and the first byte of
// a body it never finishes, and returns the connection.
func slowPost(t *testing.T, addr, key string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/cloudevents+json\r\nContent-Length: 100000\r\n\r\n{", addr, key)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return conn
}

func TestSlowBodiesHoldNoLaneSlot(t *testing.T) {
	t.Run("a body that does not arrive in time is answered 408 request_timeout", func(t *testing.T) {
		s := newDoorServer(t, DoorConfig{BodyTimeout: 200 * time.Millisecond})
		conn := slowPost(t, s.addr, keyGlobex)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("read the answer: %v", err)
		}
		defer resp.Body.Close()
		var body strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status = %d %s, want 408", resp.StatusCode, body.String())
		}
		if code, _ := problemOf(t, []byte(body.String())); code != "request_timeout" {
			t.Errorf("code = %s, want request_timeout", code)
		}
	})

	t.Run("an account trickling more bodies than its lane has slots is refused and another account's order is accepted", func(t *testing.T) {
		s := newDoorServer(t, DoorConfig{BodyTimeout: time.Minute})
		// The standard lane has LaneRequests[standard] slots; globex holds
		// that many connections, each sending its body byte by byte.
		for range LaneRequests[accounts.Standard] {
			slowPost(t, s.addr, keyGlobex)
		}
		s.waitInDoor(t, bus.Sender{Account: "globex"}, LaneRequests[accounts.Standard])
		bustest.CheckFor(t, 10*time.Second, func() error {
			resp, body := s.post(t, keyGlobex, structuredHeader, orderOf(t, "globex", "0614141000036", "g-more"))
			if resp.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("globex's next request: %d, want 429 once its slow requests are in", resp.StatusCode)
			}
			if code, _ := problemOf(t, body); code != "rate_limited" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("globex's next request: code %s, Retry-After %q; want rate_limited with Retry-After", code, resp.Header.Get("Retry-After"))
			}
			return nil
		})
		resp, body := s.post(t, keyInitech, structuredHeader, orderOf(t, "initech", "0614141000043", "i-1"))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("initech's order while globex trickles: %d %s, want 202", resp.StatusCode, body)
		}
	})
}

func TestPerAccountRequestCap(t *testing.T) {
	s := newDoorServer(t, DoorConfig{BodyTimeout: time.Minute, Requests: map[accounts.Lane]int{accounts.Priority: 2, accounts.Standard: 2, accounts.Bulk: 2}})
	for range 4 { // two at work, two waiting
		slowPost(t, s.addr, keyGlobex)
	}
	s.waitInDoor(t, bus.Sender{Account: "globex"}, 4)
	bustest.CheckFor(t, 10*time.Second, func() error {
		resp, _ := s.post(t, keyGlobex, structuredHeader, orderOf(t, "globex", "0614141000036", "g-cap"))
		if resp.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("globex's fifth request: %d, want 429", resp.StatusCode)
		}
		return nil
	})
	for _, tc := range []struct{ name, key, account, gln string }{
		{"an account of the same lane is served", keyInitech, "initech", "0614141000043"},
		{"an account of another lane is served", keyAcme, "acme", "0614141000005"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.post(t, tc.key, structuredHeader, orderOf(t, tc.account, tc.gln, tc.account+"-cap"))
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("%s: %d %s, want 202", tc.account, resp.StatusCode, body)
			}
		})
	}
}

func TestQuotaOverHTTP(t *testing.T) {
	s := newDoorServer(t, DoorConfig{})
	for i := range 2 {
		if resp, body := s.post(t, keyUmbrella, structuredHeader, orderOf(t, "umbrella", "0614141000029", fmt.Sprintf("u-%d", i))); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("umbrella's order %d within its quota: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := s.post(t, keyUmbrella, structuredHeader, orderOf(t, "umbrella", "0614141000029", "u-2"))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("umbrella's third order in a second: %d %s, want 429", resp.StatusCode, body)
	}
	if code, _ := problemOf(t, body); code != "rate_limited" {
		t.Errorf("code = %s, want rate_limited", code)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if resp, body := s.post(t, keyGlobex, structuredHeader, orderOf(t, "globex", "0614141000036", "g-q")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("globex's order right after: %d %s, want 202", resp.StatusCode, body)
	}
	s.clock.advance(time.Second)
	if resp, body := s.post(t, keyUmbrella, structuredHeader, orderOf(t, "umbrella", "0614141000029", "u-2")); resp.StatusCode != http.StatusAccepted {
		t.Errorf("umbrella's order a second later: %d %s, want 202", resp.StatusCode, body)
	}
}

func TestBadValuesAtTheDoor(t *testing.T) {
	s := newDoorServer(t, DoorConfig{})
	ev := func(id string) []byte { return orderOf(t, "acme", "0614141000005", id) }
	binary := binaryHeader(newEvent(t, "tp-1", "order.placed", "/accounts/acme", "", orderData()))
	binary["ce-traceparent"] = strings.Repeat("0", 65<<10)
	tests := []struct {
		name      string
		header    map[string]string
		body      []byte
		wantCode  string
		wantField string
	}{
		{"a 65 KB traceparent is attribute_too_large", binary, mustJSON(t, orderData()), "attribute_too_large", "traceparent"},
		{"a 70 KB id is attribute_too_large", structuredHeader, ev(strings.Repeat("x", 70<<10)), "attribute_too_large", "id"},
		{"an id of 257 bytes is attribute_too_large", structuredHeader, ev(strings.Repeat("x", intake.MaxIDBytes+1)), "attribute_too_large", "id"},
		{"a 2 KB source is attribute_too_large", structuredHeader,
			[]byte(strings.Replace(string(ev("src-1")), `"source":"/accounts/acme"`, `"source":"/accounts/acme/`+strings.Repeat("r", 2048)+`"`, 1)),
			"attribute_too_large", "source"},
		{"attributes over 8 KiB together are attribute_too_large", structuredHeader,
			[]byte(strings.Replace(string(ev("ext-1")), `"specversion"`, `"e1":"`+strings.Repeat("a", 1000)+`","e2":"`+strings.Repeat("a", 1000)+
				`","e3":"`+strings.Repeat("a", 1000)+`","e4":"`+strings.Repeat("a", 1000)+`","e5":"`+strings.Repeat("a", 1000)+
				`","e6":"`+strings.Repeat("a", 1000)+`","e7":"`+strings.Repeat("a", 1000)+`","e8":"`+strings.Repeat("a", 1000)+
				`","e9":"`+strings.Repeat("a", 1000)+`","specversion"`, 1)), "attribute_too_large", "e1"},
		{"an id that is not UTF-8 is refused, not rewritten", structuredHeader,
			[]byte(strings.Replace(string(ev("utf-PLACEHOLDER")), "PLACEHOLDER", "\xff\xfe", 1)), "schema_violation", "id"},
		{"a batch with two events of one id is a duplicate", batchHeader,
			[]byte("[" + string(ev("dup-1")) + "," + string(ev("dup-1")) + "]"), "duplicate", "id"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.post(t, keyAcme, tc.header, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d %s, want 400", resp.StatusCode, truncate(string(body), 300))
			}
			if code, field := problemOf(t, body); code != tc.wantCode || field != tc.wantField {
				t.Errorf("problem = %s (%s), want %s (%s)", code, field, tc.wantCode, tc.wantField)
			}
			if len(body) > 4096 {
				t.Errorf("the answer is %d bytes: it repeats the attribute", len(body))
			}
			if resp, body := s.post(t, keyGlobex, structuredHeader, orderOf(t, "globex", "0614141000036", fmt.Sprintf("after-%d", i))); resp.StatusCode != http.StatusAccepted {
				t.Errorf("globex's order right after: %d %s, want 202", resp.StatusCode, body)
			}
		})
	}
}
