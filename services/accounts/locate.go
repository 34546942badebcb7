package accounts

import (
	"maps"
	"slices"
)

// AccountOfLocation returns the id of the account that has a location with
// this GLN: a warehouse's ship notice names where goods went, not whose they
// are. It scans the current snapshot (accounts have a handful of locations
// each); when two accounts list the same GLN, which the accounts file should
// not allow, the first id in sorted order wins.
func (r *Registry) AccountOfLocation(gln string) (string, bool) {
	accts := r.snap.Load().accounts
	for _, id := range slices.Sorted(maps.Keys(accts)) {
		if _, ok := accts[id].Account.Location(gln); ok {
			return id, true
		}
	}
	return "", false
}
