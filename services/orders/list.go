package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crossdock/crossdock/bus"
)

// Query selects an account's orders for List.
type Query struct {
	// POPrefix keeps the orders whose PO number starts with it ("" for all).
	POPrefix string
	// From and To keep the orders placed in [From, To); zero means no
	// bound. From also bounds what is read: only the orders written since.
	From, To time.Time
	// Offset and Limit page through the matches, newest first; Limit 0
	// means DefaultLimit, and it is at most MaxLimit.
	Offset, Limit int
}

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Summary is one order in a list.
type Summary struct {
	PONumber      string     `json:"po_number"`
	State         string     `json:"state"`
	PlacedAt      time.Time  `json:"placed_at"`
	RequestedDate string     `json:"requested_date"`
	ShipTo        string     `json:"ship_to"`
	Units         float64    `json:"units"`
	ShippedUnits  float64    `json:"shipped_units"`
	Channel       string     `json:"channel,omitempty"`
	OrderID       string     `json:"order_id,omitempty"`
	ReleaseAt     *time.Time `json:"release_at,omitempty"`
}

// Page is one page of an account's orders, newest placed first, with the
// number of matches in all.
type Page struct {
	Orders []Summary `json:"orders"`
	Total  int       `json:"total"`
	Offset int       `json:"offset"`
	Limit  int       `json:"limit"`
}

// List returns a page of the account's orders matching q, newest placed
// first. It reads the orders bucket's stream for this account's keys only:
// from q.From when set (an order placed since was written since), else the
// last revision of each of the account's orders.
func (s *Service) List(ctx context.Context, account string, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	q.Offset = max(q.Offset, 0)
	var all []*Order
	err := s.Scan(ctx, account, q.From, func(o *Order) {
		at := o.PlacedAt()
		if !strings.HasPrefix(o.PONumber, q.POPrefix) || (!q.From.IsZero() && at.Before(q.From)) || (!q.To.IsZero() && !at.Before(q.To)) {
			return
		}
		all = append(all, o)
	})
	if err != nil {
		return Page{}, err
	}
	slices.SortFunc(all, func(a, b *Order) int {
		if c := b.PlacedAt().Compare(a.PlacedAt()); c != 0 {
			return c
		}
		return strings.Compare(a.PONumber, b.PONumber)
	})
	p := Page{Orders: []Summary{}, Total: len(all), Offset: q.Offset, Limit: q.Limit}
	for _, o := range all[min(q.Offset, len(all)):min(q.Offset+q.Limit, len(all))] {
		p.Orders = append(p.Orders, Summary{
			PONumber: o.PONumber, State: o.State, PlacedAt: o.PlacedAt(), RequestedDate: o.RequestedDate, ShipTo: o.ShipTo,
			Units: o.Units(), ShippedUnits: o.ShippedUnits(), Channel: o.Channel, OrderID: o.OrderID, ReleaseAt: o.ReleaseAt,
		})
	}
	return p, nil
}

// Scan calls fn with the latest state of each of the account's orders
// written at or after since (every order when since is zero), in no
// particular order. It reads the orders bucket's stream through an ordered
// consumer filtered to the account's keys, so it costs what the account
// wrote since, never what other accounts did; the scorecard reads a period
// with it.
func (s *Service) Scan(ctx context.Context, account string, since time.Time, fn func(*Order)) error {
	latest := map[string][]byte{}
	err := bus.ReadBucket(ctx, s.bus.JetStream(), Bucket, bus.BucketRead{Keys: "po." + account + ".>", Since: since}, func(e bus.Entry) error {
		if e.Deleted {
			delete(latest, e.Key)
		} else {
			latest[e.Key] = e.Value
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan orders of %s: %w", account, err)
	}
	for key, b := range latest {
		var o Order
		if err := json.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("scan orders of %s: decode %s: %w", account, key, err)
		}
		fn(&o)
	}
	return nil
}
