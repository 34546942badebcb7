// Package hubtest holds what the tests of the hub and of its services share
// beyond a NATS server (bus/bustest) and an account registry
// (services/accounts/accountstest): calls to an HTTP API with a key,
// events stored in a lane as the router leaves them, and the events and
// problems the hub answers with, checked against the contract.
package hubtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
)

// Do sends req with the bearer token (none when empty) and returns the
// status and the JSON answer decoded (nil when the answer is not JSON).
func Do(t testing.TB, req *http.Request, token string) (int, map[string]any) {
	t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", req.Method, req.URL.Path, err)
	}
	var out map[string]any
	if len(b) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %s", req.Method, req.URL.Path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// Route stores an event of account in its tier's lane in XD_ROUTED, as the
// router leaves it for the services, and returns it.
func Route(t testing.TB, b *bus.Bus, reg *accounts.Registry, id, name, source, account string, data any) *event.Event {
	t.Helper()
	entry, ok := reg.Account(account)
	if !ok {
		t.Fatalf("route %s: no account %s", id, account)
	}
	ev := event.New()
	ev.SetID(id)
	ev.SetType(bus.Type(name))
	ev.SetSource(source)
	ev.SetExtension(bus.ExtAccount, account)
	if err := ev.SetData(event.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	subject := "xd.routed." + string(entry.Account.Tier) + "." + account + "." + name
	if _, err := b.Publish(context.Background(), bus.Outgoing{Subject: subject, Event: &ev}); err != nil {
		t.Fatalf("route %s: %v", id, err)
	}
	return &ev
}

// contract checks events against the contract's schemas.
var contract = func() *schemas.Validator {
	v, err := schemas.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// DataOf checks an event the hub made against its schema and decodes its
// data.
func DataOf(t testing.TB, ev *event.Event) map[string]any {
	t.Helper()
	if err := contract.Validate(ev.Type(), ev.Data()); err != nil {
		t.Errorf("%s %s breaks its schema: %v", ev.Type(), ev.ID(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(ev.Data(), &m); err != nil {
		t.Fatalf("event %s data: %v", ev.ID(), err)
	}
	return m
}

// FirstCode is the code of the first error of an event.rejected's data or a
// problem+json answer (whose errors may be per event, each with its own
// errors).
func FirstCode(t testing.TB, body map[string]any) any {
	t.Helper()
	errs, _ := body["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("no errors in %v", body)
	}
	first := errs[0].(map[string]any)
	if inner, ok := first["errors"].([]any); ok && len(inner) > 0 {
		return inner[0].(map[string]any)["code"]
	}
	return first["code"]
}

// MustJSON marshals v or fails the test.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
