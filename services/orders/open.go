package orders

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/crossdock/crossdock/services/accounts"
)

// Open returns a warehouse's open fulfilment requests: the orders accepted
// for it and not shipped yet, oldest placed first, from every account with
// a location it serves (Scan of each). The portal's warehouse page lists
// them.
func (s *Service) Open(ctx context.Context, warehouse string) ([]Order, error) {
	var out []Order
	served := s.reg.Select(func(e *accounts.Entry) bool {
		return slices.ContainsFunc(e.Account.Locations, func(l accounts.Location) bool { return l.Warehouse == warehouse })
	})
	for _, id := range served {
		err := s.Scan(ctx, id, time.Time{}, func(o *Order) {
			if o.Warehouse == warehouse && o.State == StateAccepted {
				out = append(out, *o)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b Order) int {
		return cmp.Or(a.PlacedAt().Compare(b.PlacedAt()), cmp.Compare(a.Account, b.Account), cmp.Compare(a.PONumber, b.PONumber))
	})
	return out, nil
}
