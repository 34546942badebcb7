package accounts

import "slices"

// AccountsIn lists, sorted, the ids of the accounts whose events are
// processed in lane l. The router filters its per-lane intake consumers on
// them, since an intake subject names the account but not its tier.
func (r *Registry) AccountsIn(l Lane) []string {
	return r.Select(func(e *Entry) bool { return e.Policy.Lane == l })
}

// Select lists, sorted, the ids of the accounts for which keep is true.
// Consumers of a feature few accounts use (EDI, experiments) filter on
// these accounts' subjects, so that the others' events cost them nothing.
func (r *Registry) Select(keep func(*Entry) bool) []string {
	var ids []string
	for id, e := range r.snap.Load().accounts {
		if keep(e) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
