package planning

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/accounts"
)

// report is the part of crossdock.inventory.reported.v1 planning reads.
type report struct {
	Location string `json:"location"`
	AsOf     string `json:"as_of"`
	Items    []struct {
		GTIN          string `json:"gtin"`
		SoldSinceLast *int64 `json:"sold_since_last"`
	} `json:"items"`
}

// ExceptionData is the data of crossdock.forecast.exception.v1.
type ExceptionData struct {
	ExceptionID     string   `json:"exception_id"`
	Location        string   `json:"location"`
	Warehouse       string   `json:"warehouse,omitempty"`
	GTIN            string   `json:"gtin"`
	Week            Week     `json:"week"`
	Forecast        int64    `json:"forecast"`
	Actual          int64    `json:"actual"`
	Difference      int64    `json:"difference"`
	DifferenceRatio *float64 `json:"difference_ratio,omitempty"`
	Threshold       float64  `json:"threshold"`
	Version         int64    `json:"forecast_version,omitempty"`
}

// report counts an inventory report's sales for an account with shared
// planning, in the week of its as_of, and raises the exceptions of the weeks
// the report closes. It never refuses a report: the VMI service answers for
// reports (and refuses the bad ones); what planning cannot read it leaves.
func (s *Service) report(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	entry, ok := s.reg.Account(bus.Account(ev))
	if !ok || !entry.Policy.SharesPlanning() {
		return nil, nil
	}
	var r report
	if err := json.Unmarshal(ev.Data(), &r); err != nil {
		return nil, nil
	}
	loc, ok := entry.Account.Location(r.Location)
	if !ok {
		return nil, nil
	}
	asOf, err := time.Parse(time.RFC3339, r.AsOf)
	if err != nil {
		return nil, nil
	}
	threshold := entry.Policy.PlanningExceptionThreshold
	if threshold <= 0 {
		threshold = DefaultExceptionThreshold
	}
	var outs []bus.Outgoing
	for _, it := range r.Items {
		gtin := gs1.GTIN14(it.GTIN)
		o, err := s.reportItem(ctx, ev, entry.Account.ID, loc, gtin, WeekOf(asOf), it.SoldSinceLast, threshold)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o...)
	}
	return outs, nil
}

// reportItem applies one report line to the item's weekly sales.
func (s *Service) reportItem(ctx context.Context, ev *event.Event, account string, loc accounts.Location, gtin string, week Week, sold *int64, threshold float64) ([]bus.Outgoing, error) {
	fc, err := s.store.Forecast(ctx, account, loc.GLN, gtin)
	if err != nil {
		return nil, err
	}
	id := ev.ID()
	act, created, err := update(ctx, s.store, actKey(account, loc.GLN, gtin), func(a *Actuals, created bool) bool {
		if created {
			a.Account, a.Location, a.GTIN, a.Weeks = account, loc.GLN, gtin, map[Week]*WeekSales{}
		}
		if slices.Contains(a.Reports, id) {
			return false // a redelivery: counted already
		}
		ws := a.Weeks[week]
		if ws == nil {
			ws = &WeekSales{}
			a.Weeks[week] = ws
		}
		ws.Reports++
		if sold != nil {
			ws.Sold += *sold
		}
		// The forecast a week had: past weeks' quantities no longer
		// change (forecasts for them are refused), so copying them again
		// is harmless; the current week's follows the newest version.
		for w, sales := range a.Weeks {
			if q, ok := fc.weekOf(w); ok {
				units := q.Units
				sales.Forecast, sales.Version = &units, q.Version
			}
		}
		// The report closes every earlier week that had reports: raise
		// each one's exception once.
		for w, sales := range a.Weeks {
			if w >= week || sales.Raised != nil || sales.Forecast == nil || !exceeds(sales.Sold, *sales.Forecast, threshold) {
				continue
			}
			sales.Raised = &Raised{Cause: id, Forecast: *sales.Forecast, Actual: sales.Sold, Version: sales.Version, Threshold: threshold}
		}
		a.Reports = append(a.Reports, id)
		if len(a.Reports) > recentReports {
			a.Reports = a.Reports[len(a.Reports)-recentReports:]
		}
		prune(a.Weeks, week)
		return true
	})
	if err != nil {
		return nil, err
	}
	if created || (len(act.Reports) == 1 && act.Reports[0] == id) {
		if err := s.store.markReported(ctx, account, gtin); err != nil {
			return nil, err
		}
	}
	var outs []bus.Outgoing
	for _, w := range slices.Sorted(maps.Keys(act.Weeks)) {
		if r := act.Weeks[w].Raised; r != nil && r.Cause == id {
			o, err := exceptionEvents(account, loc, gtin, w, r)
			if err != nil {
				return nil, err
			}
			outs = append(outs, o...)
		}
	}
	return outs, nil
}

// weekOf is the forecast's quantity for week w.
func (f *Forecast) weekOf(w Week) (Quantity, bool) {
	if f == nil {
		return Quantity{}, false
	}
	q, ok := f.Weeks[w]
	return q, ok
}

// exceeds reports whether actual sales differ from the forecast by more than
// threshold (a share of the forecast); against a forecast of zero any sale
// does.
func exceeds(actual, forecast int64, threshold float64) bool {
	diff := math.Abs(float64(actual - forecast))
	if forecast == 0 {
		return actual > 0
	}
	return diff > threshold*float64(forecast)
}

// exceptionEvents are the customer's and the warehouse's copy of one
// exception. Their ids derive from the location, item and week (not from
// the report that raised it), so that whatever announces it again, JetStream
// stores each copy once.
func exceptionEvents(account string, loc accounts.Location, gtin string, w Week, r *Raised) ([]bus.Outgoing, error) {
	cause := event.New()
	cause.SetID("forecast-exception/" + account + "/" + loc.GLN + "/" + gtin + "/" + string(w))
	cause.SetExtension(bus.ExtAccount, account)
	data := ExceptionData{
		ExceptionID: bus.DeriveID(cause.ID(), "exception"), Location: loc.GLN, Warehouse: loc.Warehouse, GTIN: gtin, Week: w,
		Forecast: r.Forecast, Actual: r.Actual, Difference: r.Actual - r.Forecast, Threshold: r.Threshold, Version: r.Version,
	}
	if r.Forecast > 0 {
		ratio := round4(float64(data.Difference) / float64(r.Forecast))
		data.DifferenceRatio = &ratio
	}
	var outs []bus.Outgoing
	for _, to := range []struct{ kind, subject string }{
		{"customer", bus.OutSubject(account, bus.Name(typeException))},
		{"warehouse", bus.WarehouseSubject(loc.Warehouse, bus.Name(typeException))},
	} {
		out, err := bus.NewEvent(&cause, typeException, to.kind, source, data)
		if err != nil {
			return nil, err
		}
		out.SetExtension(bus.ExtCausationID, r.Cause)
		outs = append(outs, bus.Outgoing{Subject: to.subject, Event: out})
	}
	return outs, nil
}
