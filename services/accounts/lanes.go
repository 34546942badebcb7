package accounts

import "slices"

// AccountsIn lists, sorted, the ids of the accounts whose events are
// processed in lane l. The router filters its per-lane intake consumers on
// them, since an intake subject names the account but not its tier.
func (r *Registry) AccountsIn(l Lane) []string {
	var ids []string
	for id, e := range r.snap.Load().accounts {
		if e.Policy.Lane == l {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
