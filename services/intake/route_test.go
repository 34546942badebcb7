package intake

import "testing"

func TestSealVouchesForOneEventInOneProcess(t *testing.T) {
	c := NewChecker(nil, nil, 0)
	seal := c.Seal("acme:po-1", []byte(`{"po_number":"PO-1"}`))
	tests := []struct {
		name  string
		check *Checker
		id    string
		data  string
		seal  string
		want  bool
	}{
		{"the seal of the same id and data is accepted", c, "acme:po-1", `{"po_number":"PO-1"}`, seal, true},
		{"the seal on other data is refused", c, "acme:po-1", `{"po_number":"PO-2"}`, seal, false},
		{"the seal on another id is refused", c, "acme:po-2", `{"po_number":"PO-1"}`, seal, false},
		{"another process cannot verify the seal", NewChecker(nil, nil, 0), "acme:po-1", `{"po_number":"PO-1"}`, seal, false},
		{"no seal is refused", c, "acme:po-1", `{"po_number":"PO-1"}`, "", false},
		{"a made-up seal is refused", c, "acme:po-1", `{"po_number":"PO-1"}`, "AAAA", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.check.Sealed(tc.id, []byte(tc.data), tc.seal); got != tc.want {
				t.Errorf("Sealed(%q, %s, %q) = %v, want %v", tc.id, tc.data, tc.seal, got, tc.want)
			}
		})
	}
}
