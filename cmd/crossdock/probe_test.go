package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbeSucceedsOnlyOnA2xxAnswer(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		ready   bool
		wantErr bool
	}{
		{name: "a ready hub passes", ready: true},
		{name: "a hub not ready fails", ready: false, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			if err := probe([]string{srv.URL + "/readyz"}); (err != nil) != tc.wantErr {
				t.Errorf("probe = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
