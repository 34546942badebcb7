package planning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

// Bucket is the KV bucket of shared planning: forecasts in force
// (fc.<account>.<gln>.<gtin14>), weekly sales with the forecast each week had
// and the exceptions raised (act.<account>.<gln>.<gtin14>), and the items an
// account has reported (item.<account>.<gtin14>).
const Bucket = "XD_PLAN"

// keepWeeks is how many weeks of forecasts and sales a record keeps: the
// 13 weeks of accuracy, the current week and a margin for late reports.
const keepWeeks = 16

// maxAttempts bounds an optimistic read-modify-write of one record.
const maxAttempts = 10

// Quantity is one week's forecast of a location and item, and the version
// of the forecast that set it.
type Quantity struct {
	Units   int64 `json:"units"`
	Version int64 `json:"version"`
}

// Forecast is the forecast in force of one item at one location: per week,
// the quantity of the newest version that covered the week.
type Forecast struct {
	Account  string `json:"account"`
	Location string `json:"location"`
	GTIN     string `json:"gtin"`
	// Version is the highest version applied: a lower one arriving late
	// changes nothing.
	Version    int64             `json:"version"`
	ForecastID string            `json:"forecast_id"`
	Weeks      map[Week]Quantity `json:"weeks"`
}

// Demand is the forecast's demand over days days from from: each week's
// quantity spread evenly over its seven days. ok is false when a week the
// span touches has no quantity: the forecast does not cover it.
func (f *Forecast) Demand(from time.Time, days float64) (units float64, ok bool) {
	if f == nil || days <= 0 {
		return 0, false
	}
	end := from.Add(time.Duration(days * 24 * float64(time.Hour)))
	for t := from; t.Before(end); {
		w := WeekOf(t)
		q, ok := f.Weeks[w]
		if !ok {
			return 0, false
		}
		next := w.Start().AddDate(0, 0, 7)
		upTo := next
		if end.Before(upTo) {
			upTo = end
		}
		units += float64(q.Units) / 7 * upTo.Sub(t).Hours() / 24
		t = upTo
	}
	return units, true
}

// Raised is a forecast exception raised for a week, kept so that it is
// raised once and a redelivered report announces it again identically.
type Raised struct {
	Cause     string  `json:"cause"` // the report that closed the week
	Forecast  int64   `json:"forecast"`
	Actual    int64   `json:"actual"`
	Version   int64   `json:"version"`
	Threshold float64 `json:"threshold"`
}

// WeekSales is what the reports of one week say was sold, with the forecast
// the week had.
type WeekSales struct {
	Sold     int64   `json:"sold"`
	Reports  int     `json:"reports"`
	Forecast *int64  `json:"forecast,omitempty"`
	Version  int64   `json:"version,omitempty"`
	Raised   *Raised `json:"exception,omitempty"`
}

// Actuals are the weekly sales of one item at one location.
type Actuals struct {
	Account  string              `json:"account"`
	Location string              `json:"location"`
	GTIN     string              `json:"gtin"`
	Weeks    map[Week]*WeekSales `json:"weeks"`
	// Reports are the last report ids counted, so a redelivery counts once.
	Reports []string `json:"reports"`
}

// recentReports is how many report ids an Actuals remembers.
const recentReports = 32

// Store reads and writes the planning bucket. The VMI service reads
// forecasts through it.
type Store struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

// OpenStore creates (or opens) the planning bucket.
func OpenStore(ctx context.Context, b *bus.Bus) (*Store, error) {
	kv, err := b.Bucket(ctx, Bucket, "shared planning: forecasts in force, weekly sales, forecast exceptions, items reported", 1)
	if err != nil {
		return nil, err
	}
	return &Store{js: b.JetStream(), kv: kv}, nil
}

func fcKey(account, gln, gtin string) string  { return "fc." + account + "." + gln + "." + gtin }
func actKey(account, gln, gtin string) string { return "act." + account + "." + gln + "." + gtin }
func itemKey(account, gtin string) string     { return "item." + account + "." + gtin }

// Forecast returns the forecast in force of an item (GTIN-14) at a
// location, or nil when the account has shared none.
func (s *Store) Forecast(ctx context.Context, account, gln, gtin string) (*Forecast, error) {
	var f Forecast
	rev, err := s.get(ctx, fcKey(account, gln, gtin), &f)
	if err != nil || rev == 0 {
		return nil, err
	}
	return &f, nil
}

// Reported reports whether the account has reported the item (GTIN-14).
func (s *Store) Reported(ctx context.Context, account, gtin string) (bool, error) {
	_, err := s.kv.Get(ctx, itemKey(account, gtin))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read item %s of %s: %w", gtin, account, err)
	}
	return true, nil
}

// markReported records that the account has reported the item.
func (s *Store) markReported(ctx context.Context, account, gtin string) error {
	if _, err := s.kv.Create(ctx, itemKey(account, gtin), []byte("1")); err != nil && !bus.IsConflict(err) {
		return fmt.Errorf("record item %s of %s: %w", gtin, account, err)
	}
	return nil
}

// get decodes key into v and returns its revision; 0 when it does not exist.
func (s *Store) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Revision(), nil
}

// put writes v at key read at revision rev (0: create).
func (s *Store) put(ctx context.Context, key string, v any, rev uint64) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, b)
	} else {
		_, err = s.kv.Update(ctx, key, b, rev)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// update reads the record at key into a fresh T, lets change modify it
// (reporting whether it did) and writes it back at the revision read,
// retrying on a conflict, so that two workers never overwrite each other.
// created says whether the record did not exist before.
func update[T any](ctx context.Context, s *Store, key string, change func(v *T, created bool) bool) (v *T, created bool, err error) {
	for range maxAttempts {
		v = new(T)
		rev, err := s.get(ctx, key, v)
		if err != nil {
			return nil, false, err
		}
		if !change(v, rev == 0) {
			return v, rev == 0, nil
		}
		if err := s.put(ctx, key, v, rev); err == nil {
			return v, rev == 0, nil
		} else if !bus.IsConflict(err) {
			return nil, false, err
		}
	}
	return nil, false, fmt.Errorf("write %s: still conflicting after %d attempts", key, maxAttempts)
}

// prune drops the weeks of m before the keepWeeks latest.
func prune[V any](m map[Week]V, now Week) {
	oldest := now.Add(-keepWeeks)
	for w := range m {
		if w < oldest {
			delete(m, w)
		}
	}
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }
