package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/intake"
)

// Intake subjects the HTTP tests store on.
const (
	subjectOrders    = "xd.in.acme.order.placed"
	subjectShipments = "xd.in.wh.dc-east.shipment.dispatched"
)

// gatewayServer is the gateway's handler on a real HTTP listener over env.
type gatewayServer struct {
	*env
	url string
}

func newGatewayServer(t *testing.T) *gatewayServer {
	t.Helper()
	e := newEnv(t)
	gw := New(e.bus, e.reg, intake.NewChecker(e.reg, e.schemas, 0), nil, nil, bustest.Logger(t))
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &gatewayServer{env: e, url: srv.URL + "/v1/events"}
}

// post sends body with the given API key ("" for none) and headers, and
// returns the response with its body read.
func (s *gatewayServer) post(t *testing.T, key string, header map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/events: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp, b
}

// stored returns how many messages XD_IN holds on subject.
func (s *gatewayServer) stored(t *testing.T, subject string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.bus.JetStream().Stream(ctx, bus.StreamIn)
	if err != nil {
		t.Fatalf("stream %s: %v", bus.StreamIn, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("stream %s info: %v", bus.StreamIn, err)
	}
	return info.State.Subjects[subject]
}

// last returns the last message XD_IN holds on subject, decoded.
func (s *gatewayServer) last(t *testing.T, subject string) (*event.Event, nats.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.bus.JetStream().Stream(ctx, bus.StreamIn)
	if err != nil {
		t.Fatalf("stream %s: %v", bus.StreamIn, err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatalf("last message on %s: %v", subject, err)
	}
	ev, err := bus.Decode(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	if err != nil {
		t.Fatalf("decode the message stored on %s: %v", subject, err)
	}
	return ev, raw.Header
}

// structuredHeader and batchHeader are the content types of the structured
// and batch modes.
var (
	structuredHeader = map[string]string{"Content-Type": "application/cloudevents+json"}
	batchHeader      = map[string]string{"Content-Type": "application/cloudevents-batch+json"}
)

// binaryHeader is the binary mode's header of ev: its attributes as ce-
// headers, its data content type as Content-Type.
func binaryHeader(ev *event.Event) map[string]string {
	h := map[string]string{
		"ce-specversion": ev.SpecVersion(),
		"ce-id":          ev.ID(),
		"ce-source":      ev.Source(),
		"ce-type":        ev.Type(),
		"ce-time":        ev.Time().Format(time.RFC3339Nano),
		"Content-Type":   ev.DataContentType(),
	}
	for k, v := range ev.Extensions() {
		h["ce-"+k] = fmt.Sprint(v)
	}
	return h
}

// without returns the JSON of ev in structured mode without attribute attr.
func without(t *testing.T, ev *event.Event, attr string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, ev), &m); err != nil {
		t.Fatalf("unmarshal event: %v", err)
	}
	delete(m, attr)
	return mustJSON(t, m)
}

// badGTIN is acme's order with a GTIN whose check digit is wrong.
func badGTIN(t *testing.T, id string) *event.Event {
	t.Helper()
	data := orderData()
	data["lines"] = []any{map[string]any{"line": 1, "gtin": "00614141123453", "quantity": 24, "unit": "EA"}}
	return newEvent(t, id, "order.placed", "/accounts/acme", "", data)
}

func TestPostEvents(t *testing.T) {
	s := newGatewayServer(t)
	one := 1
	binary := order(t, "bin-1")
	binaryText := order(t, "bin-2")
	binaryText.SetDataContentType("text/plain")

	tests := []struct {
		name   string
		key    string
		header map[string]string
		body   []byte
		status int
		// For an error: the first problem's code, field and batch index.
		code  string
		field string
		index *int
		// For 202: the ids accepted, in order.
		accepted []string
		// stored is how many messages each intake subject gains.
		stored map[string]uint64
	}{
		{
			name:   "a request without an Authorization header is unauthorized",
			header: structuredHeader,
			body:   mustJSON(t, order(t, "auth-1")),
			status: http.StatusUnauthorized,
			code:   bus.CodeUnauthorized,
		},
		{
			name:   "a request with an unknown key is unauthorized",
			key:    "not-a-key",
			header: structuredHeader,
			body:   mustJSON(t, order(t, "auth-2")),
			status: http.StatusUnauthorized,
			code:   bus.CodeUnauthorized,
		},
		{
			name:   "a request with Basic credentials is unauthorized",
			header: map[string]string{"Content-Type": "application/cloudevents+json", "Authorization": "Basic " + keyAcme},
			body:   mustJSON(t, order(t, "auth-3")),
			status: http.StatusUnauthorized,
			code:   bus.CodeUnauthorized,
		},
		{
			name:   "a text/plain body is an unsupported media type",
			key:    keyAcme,
			header: map[string]string{"Content-Type": "text/plain"},
			body:   []byte("PO-2026-000417"),
			status: http.StatusUnsupportedMediaType,
			code:   bus.CodeUnsupportedMedia,
			field:  "Content-Type",
		},
		{
			name:   "a body over 1 MiB is too large",
			key:    keyAcme,
			header: structuredHeader,
			body:   []byte(`{"data": "` + strings.Repeat("x", intake.MaxEventSize) + `"}`),
			status: http.StatusRequestEntityTooLarge,
			code:   bus.CodeTooLarge,
		},
		{
			name:   "a structured event that is not JSON is invalid_json",
			key:    keyAcme,
			header: structuredHeader,
			body:   []byte(`{"specversion": "1.0", "id": `),
			status: http.StatusBadRequest,
			code:   bus.CodeInvalidJSON,
		},
		{
			name:   "a structured event without an id violates the schema at id",
			key:    keyAcme,
			header: structuredHeader,
			body:   without(t, order(t, "no-id"), "id"),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "id",
		},
		{
			name:   "a structured CloudEvents 0.3 event violates the schema at specversion",
			key:    keyAcme,
			header: structuredHeader,
			body:   []byte(`{"specversion": "0.3", "id": "v03-1", "source": "/accounts/acme", "type": "crossdock.order.placed.v1", "datacontenttype": "application/json", "data": ` + string(mustJSON(t, orderData())) + `}`),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "specversion",
		},
		{
			name:   "a binary-mode CloudEvents 0.3 event violates the schema at specversion",
			key:    keyAcme,
			header: map[string]string{"ce-specversion": "0.3", "ce-id": "v03-2", "ce-source": "/accounts/acme", "ce-type": "crossdock.order.placed.v1", "Content-Type": "application/json"},
			body:   mustJSON(t, orderData()),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "specversion",
		},
		{
			name:   "an id with a line break violates the schema at id",
			key:    keyAcme,
			header: structuredHeader,
			body:   mustJSON(t, order(t, "ctl-1\r\nce-account: umbrella")),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "id",
		},
		{
			name:   "an id with a space at its end violates the schema at id",
			key:    keyAcme,
			header: structuredHeader,
			body:   []byte(`{"specversion": "1.0", "id": "ctl-3 ", "source": "/accounts/acme", "type": "crossdock.order.placed.v1", "datacontenttype": "application/json", "data": ` + string(mustJSON(t, orderData())) + `}`),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "id",
		},
		{
			name:   "an extension with a control character violates the schema at its name",
			key:    keyAcme,
			header: structuredHeader,
			body:   []byte(`{"specversion": "1.0", "id": "ctl-2", "source": "/accounts/acme", "type": "crossdock.order.placed.v1", "datacontenttype": "application/json", "note": "a\u0000b", "data": ` + string(mustJSON(t, orderData())) + `}`),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "note",
		},
		{
			name:   "an event whose data breaks the schema names the field",
			key:    keyAcme,
			header: structuredHeader,
			body:   mustJSON(t, badGTIN(t, "gtin-1")),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "data.lines[0].gtin",
		},
		{
			name:   "an event naming another account is forbidden",
			key:    keyAcme,
			header: structuredHeader,
			body:   mustJSON(t, newEvent(t, "mismatch-1", "order.placed", "/accounts/acme", "umbrella", orderData())),
			status: http.StatusForbidden,
			code:   bus.CodeAccountMismatch,
			field:  "account",
		},
		{
			name:   "a binary-mode event whose data is text/plain violates the schema",
			key:    keyAcme,
			header: binaryHeader(binaryText),
			body:   binaryText.Data(),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "datacontenttype",
		},
		{
			name:     "a binary-mode event is accepted and stored",
			key:      keyAcme,
			header:   binaryHeader(binary),
			body:     binary.Data(),
			status:   http.StatusAccepted,
			accepted: []string{"bin-1"},
			stored:   map[string]uint64{subjectOrders: 1},
		},
		{
			name:     "a structured event is accepted and stored",
			key:      keyAcme,
			header:   structuredHeader,
			body:     mustJSON(t, order(t, "str-1")),
			status:   http.StatusAccepted,
			accepted: []string{"str-1"},
			stored:   map[string]uint64{subjectOrders: 1},
		},
		{
			name:     "a structured event with a charset parameter is accepted",
			key:      keyAcme,
			header:   map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"},
			body:     mustJSON(t, order(t, "str-2")),
			status:   http.StatusAccepted,
			accepted: []string{"str-2"},
			stored:   map[string]uint64{subjectOrders: 1},
		},
		{
			name:     "a warehouse's shipment is accepted and stored on its intake subject",
			key:      keyDCEast,
			header:   structuredHeader,
			body:     mustJSON(t, shipment(t, "shp-1", "acme")),
			status:   http.StatusAccepted,
			accepted: []string{"shp-1"},
			stored:   map[string]uint64{subjectShipments: 1},
		},
		{
			name:   "a batch that is not a JSON array is invalid_json",
			key:    keyAcme,
			header: batchHeader,
			body:   mustJSON(t, order(t, "batch-0")),
			status: http.StatusBadRequest,
			code:   bus.CodeInvalidJSON,
		},
		{
			name:   "an empty batch violates the schema",
			key:    keyAcme,
			header: batchHeader,
			body:   []byte(`[]`),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
		},
		{
			name:   "a batch with one bad event is refused whole, naming its index",
			key:    keyAcme,
			header: batchHeader,
			body:   mustJSON(t, []*event.Event{order(t, "batch-1a"), badGTIN(t, "batch-1b"), order(t, "batch-1c")}),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "data.lines[0].gtin",
			index:  &one,
		},
		{
			name:   "a batch with one event that is no CloudEvent is refused whole, naming its index",
			key:    keyAcme,
			header: batchHeader,
			body:   []byte(`[` + string(mustJSON(t, order(t, "batch-2a"))) + `, {"specversion": "1.0"}, ` + string(mustJSON(t, order(t, "batch-2c"))) + `]`),
			status: http.StatusBadRequest,
			code:   bus.CodeSchemaViolation,
			field:  "id",
			index:  &one,
		},
		{
			name:     "a good batch of three is accepted in order and stored",
			key:      keyAcme,
			header:   batchHeader,
			body:     mustJSON(t, []*event.Event{order(t, "batch-3a"), order(t, "batch-3b"), order(t, "batch-3c")}),
			status:   http.StatusAccepted,
			accepted: []string{"batch-3a", "batch-3b", "batch-3c"},
			stored:   map[string]uint64{subjectOrders: 3},
		},
	}
	subjects := []string{subjectOrders, subjectShipments}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]uint64{}
			for _, sub := range subjects {
				before[sub] = s.stored(t, sub)
			}
			resp, body := s.post(t, tc.key, tc.header, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("POST /v1/events status = %d, want %d; body: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status == http.StatusAccepted {
				checkAccepted(t, resp, body, tc.accepted)
			} else {
				p := checkProblem(t, resp, body)
				if e := p.Errors[0]; e.Code != tc.code || e.Field != tc.field {
					t.Errorf("errors[0] = %s@%q, want %s@%q; body: %s", e.Code, e.Field, tc.code, tc.field, body)
				}
				if got := p.Errors[0].Index; (got == nil) != (tc.index == nil) || (got != nil && *got != *tc.index) {
					t.Errorf("errors[0].index = %v, want %v; body: %s", ptrString(got), ptrString(tc.index), body)
				}
			}
			for _, sub := range subjects {
				if got, want := s.stored(t, sub)-before[sub], tc.stored[sub]; got != want {
					t.Errorf("messages stored on %s = %d, want %d", sub, got, want)
				}
			}
		})
	}
}

func ptrString(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// checkProblem checks that an error response is an RFC 9457 problem with at
// least one entry in errors[], and returns it.
func checkProblem(t *testing.T, resp *http.Response, body []byte) problem.Details {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("error response Content-Type = %q, want %q", ct, problem.ContentType)
	}
	var p problem.Details
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("error response is not JSON: %v; body: %s", err, body)
	}
	if p.Status != resp.StatusCode {
		t.Errorf("problem status = %d, want %d (the response's)", p.Status, resp.StatusCode)
	}
	if len(p.Errors) == 0 || p.Errors[0].Code == "" {
		t.Fatalf("problem errors = %+v, want at least one with a code; body: %s", p.Errors, body)
	}
	for i, e := range p.Errors {
		if e.Message == "" {
			t.Errorf("errors[%d] (%s) has no message", i, e.Code)
		}
	}
	return p
}

// checkAccepted checks a 202 response's body: {"accepted": ids}.
func checkAccepted(t *testing.T, resp *http.Response, body []byte, want []string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("202 response Content-Type = %q, want application/json", ct)
	}
	var got struct {
		Accepted []string `json:"accepted"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("202 response is not JSON: %v; body: %s", err, body)
	}
	if !slices.Equal(got.Accepted, want) {
		t.Errorf("accepted = %q, want %q", got.Accepted, want)
	}
}

func TestPostEventsUnauthorizedNamesTheScheme(t *testing.T) {
	s := newGatewayServer(t)
	resp, body := s.post(t, "", structuredHeader, mustJSON(t, order(t, "auth-4")))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/events without a key: status = %d, want 401; body: %s", resp.StatusCode, body)
	}
	// RFC 9110 §15.5.2: a 401 response carries WWW-Authenticate.
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

func TestPostEventsStoresTheEventAsSent(t *testing.T) {
	tests := []struct {
		name   string
		header func(ev *event.Event) map[string]string
		body   func(t *testing.T, ev *event.Event) []byte
	}{
		{
			name:   "in binary mode",
			header: binaryHeader,
			body:   func(_ *testing.T, ev *event.Event) []byte { return ev.Data() },
		},
		{
			name:   "in structured mode",
			header: func(*event.Event) map[string]string { return structuredHeader },
			body:   func(t *testing.T, ev *event.Event) []byte { return mustJSON(t, ev) },
		},
		{
			// JSON event format §3.1.2: data without datacontenttype is JSON.
			name:   "in structured mode without datacontenttype",
			header: func(*event.Event) map[string]string { return structuredHeader },
			body:   func(t *testing.T, ev *event.Event) []byte { return without(t, ev, "datacontenttype") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newGatewayServer(t)
			sent := order(t, "stored-1")
			sent.SetExtension(bus.ExtTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			resp, body := s.post(t, keyAcme, tc.header(sent), tc.body(t, sent))
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST /v1/events status = %d, want 202; body: %s", resp.StatusCode, body)
			}
			got, h := s.last(t, subjectOrders)
			if got.ID() != sent.ID() || got.Type() != sent.Type() || got.Source() != sent.Source() {
				t.Errorf("stored event = %s %s %s, want %s %s %s", got.ID(), got.Type(), got.Source(), sent.ID(), sent.Type(), sent.Source())
			}
			if a := bus.Account(got); a != "acme" {
				t.Errorf("stored event's account = %q, want acme (set from the API key)", a)
			}
			if tp := got.Extensions()[bus.ExtTraceparent]; tp != sent.Extensions()[bus.ExtTraceparent] {
				t.Errorf("stored event's traceparent = %v, want %v", tp, sent.Extensions()[bus.ExtTraceparent])
			}
			if !got.Time().Equal(sent.Time()) {
				t.Errorf("stored event's time = %v, want %v", got.Time(), sent.Time())
			}
			if ct := got.DataContentType(); ct != event.ApplicationJSON {
				t.Errorf("stored event's datacontenttype = %q, want %q", ct, event.ApplicationJSON)
			}
			if !jsonEqual(t, got.Data(), sent.Data()) {
				t.Errorf("stored data = %s, want %s", got.Data(), sent.Data())
			}
			if id := h.Get("Nats-Msg-Id"); id != "acme:stored-1" {
				t.Errorf("stored Nats-Msg-Id = %q, want acme:stored-1", id)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return bytes.Equal(mustJSON(t, x), mustJSON(t, y))
}

func TestPostEventsTwiceStoresOnce(t *testing.T) {
	s := newGatewayServer(t)
	ev := mustJSON(t, order(t, "retry-1"))
	for i := range 2 {
		resp, body := s.post(t, keyAcme, structuredHeader, ev)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST #%d of the same event: status = %d, want 202; body: %s", i+1, resp.StatusCode, body)
		}
		checkAccepted(t, resp, body, []string{"retry-1"})
	}
	if got := s.stored(t, subjectOrders); got != 1 {
		t.Errorf("messages stored on %s after posting one event twice = %d, want 1", subjectOrders, got)
	}
}

// TestPostEventsSameIDAcrossAccounts checks that the dedupe is per account:
// two accounts that happen to pick the same id both get their event stored.
func TestPostEventsSameIDAcrossAccounts(t *testing.T) {
	s := newGatewayServer(t)
	bodies := map[string][]byte{
		keyAcme:     mustJSON(t, order(t, "po-1")),
		keyUmbrella: mustJSON(t, newEvent(t, "po-1", "order.placed", "/accounts/umbrella", "", map[string]any{"po_number": "U-1", "ship_to": "0614141000029", "requested_date": "2026-04-01", "lines": []any{map[string]any{"line": 1, "gtin": "00614141123452", "quantity": 600, "unit": "EA"}}})),
	}
	for _, key := range slices.Sorted(maps.Keys(bodies)) {
		resp, body := s.post(t, key, structuredHeader, bodies[key])
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST as %s: status = %d, want 202; body: %s", key, resp.StatusCode, body)
		}
	}
	for _, sub := range []string{subjectOrders, "xd.in.umbrella.order.placed"} {
		if got := s.stored(t, sub); got != 1 {
			t.Errorf("messages stored on %s = %d, want 1", sub, got)
		}
	}
}
