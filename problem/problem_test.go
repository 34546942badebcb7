package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRejection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         *Rejection
		wantError string
		wantCode  string
	}{
		{"one problem names its code and field", Reject(CodeShipToNotDC, "stable accounts ship to DCs only", "ship_to"),
			"rejected: ship_to_not_dc: stable accounts ship to DCs only (ship_to)", CodeShipToNotDC},
		{"several problems are listed in order and the first names the code", &Rejection{Problems: []Problem{
			{Code: CodeBelowMinimumOrder, Message: "10 units, want 500"},
			{Code: CodeShipToNotDC, Message: "a store", Field: "ship_to"},
		}}, "rejected: below_minimum_order: 10 units, want 500; ship_to_not_dc: a store (ship_to)", CodeBelowMinimumOrder},
		{"a rejection without problems is a processing failure", &Rejection{}, "rejected: ", CodeProcessingFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Error(); got != tc.wantError {
				t.Errorf("Error() = %q, want %q", got, tc.wantError)
			}
			if got := tc.r.Code(); got != tc.wantCode {
				t.Errorf("Code() = %q, want %q", got, tc.wantCode)
			}
			wrapped := fmt.Errorf("decide order: %w", tc.r)
			if r, ok := AsRejection(wrapped); !ok || r != tc.r {
				t.Errorf("AsRejection(wrapped) = %v, %v, want the rejection", r, ok)
			}
		})
	}
	if _, ok := AsRejection(fmt.Errorf("nats: timeout")); ok {
		t.Errorf("AsRejection(a transient error) = true, want false")
	}
}

func TestUnauthorizedIsAProblemWithAChallenge(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	Unauthorized(rec, "crossdock", "no API key")
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != ContentType {
		t.Errorf("Content-Type = %q, want %q", got, ContentType)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="crossdock"` {
		t.Errorf("WWW-Authenticate = %q, want the bearer realm", got)
	}
	var d Details
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	if d.Type != "urn:crossdock:error:unauthorized" || len(d.Errors) != 1 || d.Errors[0].Code != CodeUnauthorized {
		t.Errorf("problem = %+v, want one unauthorized error typed by its code", d)
	}
}
