package hub

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestTheCatalogueIsServedToAPIKeysAndTheAdminToken(t *testing.T) {
	t.Parallel()
	h := startHub(t, t.TempDir())
	cases := []struct {
		name, path, key, accept string
		status                  int
		contentType, contains   string
	}{
		{"a customer reads the AsyncAPI document as JSON", "/v1/catalog", key("acme"), "", 200, "application/json", `"asyncapi": "3.0.0"`},
		{"a customer reads it as YAML", "/v1/catalog", key("umbrella"), "application/yaml", 200, "application/yaml", "asyncapi: 3.0.0"},
		{"the operator reads it with the admin token", "/v1/catalog", adminToken, "", 200, "application/json", "xd.routed.{tier}.{account}.order.placed"},
		{"a warehouse reads a schema by type", "/v1/schemas/crossdock.order.placed.v1", key("dc-east"), "", 200, "application/schema+json", `"po_number"`},
		{"a schema is found by its name too", "/v1/schemas/order.accepted", key("acme"), "", 200, "application/schema+json", `"order_id"`},
		{"an unknown type is 404 unknown_type", "/v1/schemas/crossdock.nope.v1", key("acme"), "", 404, "application/problem+json", "unknown_type"},
		{"no key is 401", "/v1/catalog", "", "", 401, "application/problem+json", "unauthorized"},
		{"a wrong key is 401", "/v1/schemas/order.placed", "nope", "", 401, "application/problem+json", "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.base+tc.path, nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("GET %s = %d, want %d: %s", tc.path, resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type = %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("body does not contain %q: %.300s", tc.contains, body)
			}
		})
	}
}
