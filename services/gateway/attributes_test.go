package gateway

import "testing"

func TestStructuredID(t *testing.T) {
	tests := []struct {
		name, body string
		id         string
		ok         bool
	}{
		{"a plain id", `{"specversion":"1.0","id":"po-1"}`, "po-1", true},
		{"an id whose key is escaped in part", `{"\u0069d":"po-2"}`, "po-2", true},
		{"an id whose key is escaped whole, as the SDK reads it", `{"\u0069\u0064":"po-3"}`, "po-3", true},
		{"the last id wins", `{"id":"po-4", "data":{"id":"inner"}, "id" : "po-5"}`, "po-5", true},
		{"an escaped id value is decoded", `{"id":"po-\u0036"}`, "po-6", true},
		{"no id", `{"type":"x"}`, "", true},
		{"an id that is not a string", `{"id":7}`, "", false},
		{"not an object", `["id"]`, "", false},
		{"cut short", `{"id":"po-7"`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, _, ok := structuredID([]byte(tc.body))
			if id != tc.id || ok != tc.ok {
				t.Errorf("structuredID(%s) = %q, %v; want %q, %v", tc.body, id, ok, tc.id, tc.ok)
			}
		})
	}
}
