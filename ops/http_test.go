package ops

import (
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
)

func TestParseReplay(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{name: "an account and a since are enough", body: `{"account":"acme","since":"2026-11-24T00:00:00Z"}`, ok: true},
		{name: "until and types may be added", body: `{"account":"acme","since":"2026-11-24T00:00:00Z","until":"2026-11-25T00:00:00Z","types":["order.accepted"]}`, ok: true},
		{name: "a warehouse instead of an account is taken", body: `{"warehouse":"dc-east","since":"2026-11-24T00:00:00Z"}`, ok: true},
		{name: "an account and a warehouse together are refused", body: `{"account":"acme","warehouse":"dc-east","since":"2026-11-24T00:00:00Z"}`},
		{name: "a missing since is refused", body: `{"account":"acme"}`},
		{name: "an until before since is refused", body: `{"account":"acme","since":"2026-11-24T00:00:00Z","until":"2026-11-23T00:00:00Z"}`},
		{name: "an unknown field is refused", body: `{"account":"acme","since":"2026-11-24T00:00:00Z","from":"x"}`},
		{name: "an account id with a wildcard is refused", body: `{"account":"acme.>","since":"2026-11-24T00:00:00Z"}`},
		{name: "a body that is not JSON is refused", body: `since=yesterday`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseReplay([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("ParseReplay(%s) = %v, want ok=%v", tc.body, err, tc.ok)
			}
		})
	}
}

func FuzzParseReplay(f *testing.F) {
	f.Add([]byte(`{"account":"acme","since":"2026-11-24T00:00:00Z","types":["order.accepted"]}`))
	f.Add([]byte(`{"account":"","since":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseReplay(body)
		if err != nil {
			return
		}
		if !bus.ValidToken(r.Account+r.Warehouse) || r.Since.IsZero() || (!r.Until.IsZero() && !r.Until.After(r.Since)) {
			t.Errorf("ParseReplay(%q) accepted %+v", body, r)
		}
		_ = r.Since.Format(time.RFC3339)
	})
}
