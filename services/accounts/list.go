package accounts

// Accounts returns every account the registry serves, with its effective
// policy. The entries are shared and must not be modified.
func (r *Registry) Accounts() []*Entry {
	s := r.snap.Load()
	out := make([]*Entry, 0, len(s.accounts))
	for _, e := range s.accounts {
		out = append(out, e)
	}
	return out
}

// Warehouses returns every warehouse the registry serves. They are shared and
// must not be modified.
func (r *Registry) Warehouses() []*Warehouse {
	s := r.snap.Load()
	out := make([]*Warehouse, 0, len(s.warehouses))
	for _, w := range s.warehouses {
		out = append(out, w)
	}
	return out
}
