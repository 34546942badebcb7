package hub

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestOrderCheckIsServedWithTheOrdersAPI(t *testing.T) {
	h := startHub(t, t.TempDir())
	good, _ := json.Marshal(order{PO: "PO-CHECK", ShipTo: dcEast, Units: []float64{3}}.data())
	if code, body := h.post("/v1/orders/check", key("acme"), "application/json", good); code != http.StatusOK || body["decision"] != "accept" {
		t.Errorf("POST /v1/orders/check (acme, good) = %d %v, want 200 accept", code, body)
	}
	bad, _ := json.Marshal(order{PO: "PO-CHECK", ShipTo: stableShop, Units: []float64{3}}.data())
	code, body := h.post("/v1/orders/check", key("umbrella"), "application/json", bad)
	if code != http.StatusOK || body["decision"] != "reject" {
		t.Fatalf("POST /v1/orders/check (umbrella, store) = %d %v, want 200 reject", code, body)
	}
	if code, _ := h.get("/v1/orders/PO-CHECK", key("acme")); code != http.StatusNotFound {
		t.Errorf("GET the checked PO = %d, want 404: a check stores nothing", code)
	}
}
