package orders

import (
	"strings"
	"testing"
)

func TestOrderIDCarriesThePONumber(t *testing.T) {
	tests := []struct {
		name    string
		eventID string
		po      string
		carries bool
	}{
		{"a short PO number is carried", "ev-1", "PO-1001", true},
		{"a PO number with spaces and slashes is carried", "ev-2", "PO 17/3 rush", true},
		{"a PO number of 35 ASCII characters is carried", "ev-3", strings.Repeat("9", 35), true},
		{"a PO number of 35 four-byte characters is too long to carry", "ev-4", strings.Repeat("𝄞", 35), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newOrderID(tc.eventID, tc.po)
			if len(id) > maxIDLength {
				t.Errorf("newOrderID(%q, %q) = %q, %d characters; ids have at most %d", tc.eventID, tc.po, id, len(id), maxIDLength)
			}
			if again := newOrderID(tc.eventID, tc.po); again != id {
				t.Errorf("newOrderID is not stable: %q then %q", id, again)
			}
			if other := newOrderID(tc.eventID+"x", tc.po); other == id {
				t.Errorf("two placing events of PO %q get the same order_id %q", tc.po, id)
			}
			po, ok := poOf(id)
			if ok != tc.carries || (ok && po != tc.po) {
				t.Errorf("poOf(%q) = %q, %v; want %q, %v", id, po, ok, tc.po, tc.carries)
			}
		})
	}
}

func TestPOOfRefusesOtherIDs(t *testing.T) {
	for _, id := range []string{"", "3f0c6a52-4d3e-5b8e-9c1a-2b7d8e9f0a1b", "abc.UE8tMQ", "0123456789abcdef.not base64!", "ord-7f3c2a91"} {
		t.Run(id, func(t *testing.T) {
			if po, ok := poOf(id); ok {
				t.Errorf("poOf(%q) = %q, true; want no PO number", id, po)
			}
		})
	}
}

// FuzzPOOf checks that any order_id a warehouse sends either carries no PO
// number or one that makes the same order_id prefix again.
func FuzzPOOf(f *testing.F) {
	for _, s := range []string{newOrderID("e", "PO-1"), "3f0c6a52-4d3e-5b8e-9c1a-2b7d8e9f0a1b", "0123456789abcdef.", "0123456789abcdef.===="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		po, ok := poOf(id)
		if !ok {
			return
		}
		hash, _, _ := strings.Cut(id, ".")
		if got := orderKey("acct", po); !strings.HasPrefix(got, "po.acct.") {
			t.Errorf("orderKey of the PO in %q = %q", id, got)
		}
		if len(hash) != 16 {
			t.Errorf("poOf(%q) accepted a hash of %d characters", id, len(hash))
		}
	})
}

func TestIsOrderID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"an order_id carrying its PO number is one", newOrderID("ev-1", "PO-1001"), true},
		{"an order_id too long to carry its PO number is a UUID", newOrderID("ev-4", strings.Repeat("𝄞", 35)), true},
		{"an empty id is not", "", false},
		{"a UUID in upper case is not (the hub writes lower case)", "3F0C6A52-4D3E-5B8E-9C1A-2B7D8E9F0A1B", false},
		{"a hash that is not hex is not", "0123456789abcdeg.UE8tMQ", false},
		{"an id with a space is not", "ord 7f3c2a91", false},
		{"an id with KV wildcards is not", "ord.*.>", false},
		{"a customer's own reference is not", "ord-7f3c2a91", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isOrderID(tc.id); got != tc.want {
				t.Errorf("isOrderID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}
