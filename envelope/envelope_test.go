package envelope

import (
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

func TestDeriveID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		a, b      [2]string // cause id, kind
		wantEqual bool
	}{
		{"the same cause and kind give the same id", [2]string{"po-417", "accepted"}, [2]string{"po-417", "accepted"}, true},
		{"another kind gives another id", [2]string{"po-417", "accepted"}, [2]string{"po-417", "fulfillment"}, false},
		{"another cause gives another id", [2]string{"po-417", "accepted"}, [2]string{"po-418", "accepted"}, false},
		{"cause and kind do not run into each other", [2]string{"po-4", "17accepted"}, [2]string{"po-417", "accepted"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := DeriveID(tc.a[0], tc.a[1]), DeriveID(tc.b[0], tc.b[1])
			if (a == b) != tc.wantEqual {
				t.Errorf("DeriveID(%q, %q) = %s, DeriveID(%q, %q) = %s; want equal: %v", tc.a[0], tc.a[1], a, tc.b[0], tc.b[1], b, tc.wantEqual)
			}
		})
	}
}

func TestExtensionReadsInPlace(t *testing.T) {
	ev := event.New()
	ev.SetExtension(ExtAccount, "acme")
	if got := Extension(&ev, ExtAccount); got != "acme" {
		t.Errorf("Extension(account) = %q, want acme", got)
	}
	if got := Extension(&ev, ExtTraceparent); got != "" {
		t.Errorf("Extension(traceparent) = %q, want empty", got)
	}
	if got := Extension(&event.Event{}, ExtAccount); got != "" {
		t.Errorf("Extension of an event without context = %q, want empty", got)
	}
	// ev.Extensions() copies the map on every call: on the order path that
	// was 5% of the hub's allocations.
	if n := testing.AllocsPerRun(100, func() { Account(&ev) }); n != 0 {
		t.Errorf("Account allocates %.0f times per call, want 0", n)
	}
}

func TestNewAnswersItsCause(t *testing.T) {
	t.Parallel()
	cause := event.New()
	cause.SetID("po-417")
	cause.SetType("crossdock.order.placed.v1")
	cause.SetSource("/accounts/acme")
	cause.SetExtension(ExtAccount, "acme")
	cause.SetExtension(ExtTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	ev, err := New(&cause, "crossdock.order.accepted.v1", "", "/crossdock/orders", map[string]string{"order_id": "o-1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"id", ev.ID(), DeriveID("po-417", "crossdock.order.accepted.v1/")},
		{"account", Account(ev), "acme"},
		{"causationid", Extension(ev, ExtCausationID), "po-417"},
		{"traceparent", Extension(ev, ExtTraceparent), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"data", string(ev.Data()), `{"order_id":"o-1"}`},
	} {
		if c.got != c.want {
			t.Errorf("New(po-417) %s = %q, want %q", c.what, c.got, c.want)
		}
	}
	root, err := NewRoot("tier:acme:3", "crossdock.account.tier.changed.v1", "/crossdock/accounts", "acme", struct{}{})
	if err != nil {
		t.Fatalf("NewRoot: %v", err)
	}
	if got := Extension(root, ExtCausationID); got != "" {
		t.Errorf("NewRoot causationid = %q, want none", got)
	}
	if got := Account(root); got != "acme" {
		t.Errorf("NewRoot account = %q, want acme", got)
	}
}
