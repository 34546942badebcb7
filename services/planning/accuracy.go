package planning

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Windows are the spans of complete weeks accuracy is measured over.
var Windows = []int{4, 13}

// Figures are the accuracy of forecasts over some location-item-weeks: those
// with a forecast and at least one inventory report.
type Figures struct {
	Weeks    int   `json:"weeks"`     // location-item-weeks counted
	Forecast int64 `json:"forecast"`  // ΣF, units
	Actual   int64 `json:"actual"`    // ΣA, units
	AbsError int64 `json:"abs_error"` // Σ|A-F|, units
	// WMAPE is the weighted mean absolute percentage error Σ|A-F| / ΣA, as
	// a share (0.1 is 10%); nil when nothing was sold.
	WMAPE *float64 `json:"wmape"`
	// Bias is Σ(F-A) / ΣA: above zero the forecasts were too high, below
	// too low; nil when nothing was sold.
	Bias *float64 `json:"bias"`
}

func (f *Figures) add(forecast, actual int64) {
	f.Weeks++
	f.Forecast += forecast
	f.Actual += actual
	f.AbsError += abs(actual - forecast)
}

func (f *Figures) merge(g Figures) {
	f.Weeks += g.Weeks
	f.Forecast += g.Forecast
	f.Actual += g.Actual
	f.AbsError += g.AbsError
}

// finish computes the ratios from the sums.
func (f *Figures) finish() {
	f.WMAPE, f.Bias = nil, nil
	if f.Actual > 0 {
		w := round4(float64(f.AbsError) / float64(f.Actual))
		b := round4(float64(f.Forecast-f.Actual) / float64(f.Actual))
		f.WMAPE, f.Bias = &w, &b
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Span is a set of figures per window, keyed last_4_weeks, last_13_weeks.
type Span map[string]*Figures

func newSpan() Span {
	s := Span{}
	for _, n := range Windows {
		s[windowName(n)] = &Figures{}
	}
	return s
}

func windowName(n int) string { return fmt.Sprintf("last_%d_weeks", n) }

func (s Span) merge(o Span) {
	for k, f := range o {
		s[k].merge(*f)
	}
}

func (s Span) finish() {
	for _, f := range s {
		f.finish()
	}
}

// ItemAccuracy is the accuracy of one item at one location.
type ItemAccuracy struct {
	Location string `json:"location"`
	GTIN     string `json:"gtin"`
	Span
}

// MarshalJSON flattens the windows beside location and gtin.
func (i ItemAccuracy) MarshalJSON() ([]byte, error) {
	m := map[string]any{"location": i.Location, "gtin": i.GTIN}
	for k, f := range i.Span {
		m[k] = f
	}
	return json.Marshal(m)
}

// Accuracy is an account's forecast accuracy: per location and item, for the
// account as a whole and for its tier (every account of the tier with shared
// planning), over the last 4 and 13 complete weeks.
type Accuracy struct {
	Account string        `json:"account"`
	Tier    accounts.Tier `json:"tier"`
	AsOf    time.Time     `json:"as_of"`
	// Through is the last complete week counted: the one before AsOf's.
	Through Week           `json:"through_week"`
	Totals  Span           `json:"account_totals"`
	Tiers   Span           `json:"tier_totals"`
	Items   []ItemAccuracy `json:"items"`
}

// Measure computes one location and item's figures from its weekly sales,
// for the windows ending with the week before now's.
func Measure(a *Actuals, now time.Time) Span {
	span := newSpan()
	current := WeekOf(now)
	for w, ws := range a.Weeks {
		if ws.Forecast == nil || ws.Reports == 0 || w >= current {
			continue
		}
		for _, n := range Windows {
			if w >= current.Add(-n) {
				span[windowName(n)].add(*ws.Forecast, ws.Sold)
			}
		}
	}
	return span
}

// Accuracy measures the account's forecasts at now: every location and
// item it has reported sales of, its total and its tier's.
func (s *Service) Accuracy(ctx context.Context, account string, now time.Time) (*Accuracy, error) {
	entry, ok := s.reg.Account(account)
	if !ok {
		return nil, accounts.ErrUnknownAccount
	}
	out := &Accuracy{Account: account, Tier: entry.Account.Tier, AsOf: now.UTC(), Through: WeekOf(now).Add(-1),
		Totals: newSpan(), Tiers: newSpan(), Items: []ItemAccuracy{}}
	tierOf := map[string]accounts.Tier{}
	err := s.store.scan(ctx, "act.>", func(key string, value []byte) error {
		acct := strings.Split(key, ".")[1]
		tier, seen := tierOf[acct]
		if !seen {
			if e, ok := s.reg.Account(acct); ok && e.Policy.SharesPlanning() {
				tier = e.Account.Tier
			}
			tierOf[acct] = tier
		}
		if tier != entry.Account.Tier && acct != account {
			return nil
		}
		var a Actuals
		if err := json.Unmarshal(value, &a); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		span := Measure(&a, now)
		if tier == entry.Account.Tier {
			out.Tiers.merge(span)
		}
		if acct == account {
			out.Totals.merge(span)
			span.finish()
			out.Items = append(out.Items, ItemAccuracy{Location: a.Location, GTIN: a.GTIN, Span: span})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Totals.finish()
	out.Tiers.finish()
	return out, nil
}

// scan calls fn with the latest value of every key matching filter, read in
// batches rather than one request per key.
func (s *Store) scan(ctx context.Context, filter string, fn func(key string, value []byte) error) error {
	err := bus.ReadBucket(ctx, s.js, Bucket, bus.BucketRead{Keys: filter}, func(e bus.Entry) error {
		if e.Deleted {
			return nil
		}
		return fn(e.Key, e.Value)
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", filter, err)
	}
	return nil
}
