// Package planning is shared planning for the accounts whose policy says
// planning: shared (collaborative planning, forecasting and replenishment):
// it takes customers' crossdock.forecast.shared.v1 (over HTTP, NATS or an
// X12 830), keeps per location and item the forecast in force (a newer
// version replaces an older one for the weeks it covers), forwards each
// warehouse the lines of the locations it serves, counts weekly sales from
// crossdock.inventory.reported.v1, raises crossdock.forecast.exception.v1
// when a week's sales miss its forecast by more than the account's threshold,
// and measures forecast accuracy (weighted MAPE and bias). The VMI service
// reads the forecasts in force through Store to plan replenishment on them.
package planning

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/lanes"
)

// source is the CloudEvents source of the events this service makes.
const source = "/crossdock/planning"

// Event types the service takes and makes.
var (
	typeForecast  = bus.Type("forecast.shared")
	typeException = bus.Type("forecast.exception")
	typeReported  = bus.Type("inventory.reported")
)

// Policy defaults for keys a tier file leaves at zero.
const (
	// DefaultSafetyDays is the safety stock of forecast-driven VMI in days
	// of forecast demand.
	DefaultSafetyDays = 2
	// DefaultExceptionThreshold is the share of a week's forecast its sales
	// may miss by before an exception is raised.
	DefaultExceptionThreshold = 0.25
)

// Config configures the planning service. The zero value is ready for use.
type Config struct {
	// Lanes sizes each lane; a missing lane gets the lanes package's default.
	Lanes map[accounts.Lane]lanes.Size
	// Governor, when set, slows the bulk lane while priority events flow.
	Governor *lanes.Governor
	// Now is the clock that says which weeks are past (forecasts for them
	// are refused) and which are complete (accuracy); nil means time.Now.
	Now func() time.Time
}

// Service is the planning service.
type Service struct {
	cfg   Config
	bus   *bus.Bus
	reg   *accounts.Registry
	store *Store
	log   *zap.Logger
}

// New opens the planning bucket and returns the service.
func New(ctx context.Context, cfg Config, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := OpenStore(ctx, b)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, bus: b, reg: reg, store: st, log: log}, nil
}

// Run consumes every lane's forecasts and inventory reports until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return lanes.Run(ctx, s.bus, s.reg.Tiers(), lanes.Consumer{
		Service: "planning", Source: source, Names: []string{bus.Name(typeForecast), bus.Name(typeReported)},
		Sizes: s.cfg.Lanes, Handler: s.Handle, Governor: s.cfg.Governor,
	})
}

// Handle is the consume handler of every lane.
func (s *Service) Handle(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	switch d.Event.Type() {
	case typeForecast:
		return s.forecast(ctx, d)
	case typeReported:
		return s.report(ctx, d)
	}
	return nil, bus.Reject(bus.CodeUnknownType, "the planning service does not take "+d.Event.Type(), "type")
}

// ForecastData is the data of crossdock.forecast.shared.v1.
type ForecastData struct {
	ForecastID string         `json:"forecast_id"`
	Version    int64          `json:"version"`
	Issued     string         `json:"issued,omitempty"`
	Lines      []ForecastLine `json:"lines"`
}

// ForecastLine is one location and item of a forecast.
type ForecastLine struct {
	Location string       `json:"location"`
	GTIN     string       `json:"gtin"`
	Weeks    []WeekBucket `json:"weeks"`
}

// WeekBucket is one week's forecast quantity.
type WeekBucket struct {
	Week     Week  `json:"week"`
	Quantity int64 `json:"quantity"`
}

// forecast checks a shared forecast against the account (its locations, its
// items, the calendar), stores what is newer than the forecast in force and
// forwards each warehouse the lines of its locations that changed. A
// forecast is all or nothing: one bad line refuses it, naming every problem.
func (s *Service) forecast(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	entry, ok := s.reg.Account(bus.Account(ev))
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", bus.Account(ev)), "account")
	}
	if !entry.Policy.SharesPlanning() {
		// The router checked the menu; the policy changed since.
		return nil, bus.Reject(bus.CodeNotInTierMenu, fmt.Sprintf("shared planning is not on the %s tier's menu of account %s", entry.Account.Tier, entry.Account.ID), "type")
	}
	var f ForecastData
	if err := json.Unmarshal(ev.Data(), &f); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "forecast data: "+err.Error(), "data")
	}
	if ps, err := s.check(ctx, entry, &f); err != nil {
		return nil, err
	} else if len(ps) > 0 {
		return nil, &bus.Rejection{Problems: ps}
	}
	now := WeekOf(s.cfg.Now())
	byWarehouse := map[string][]ForecastLine{}
	for _, l := range f.Lines {
		loc, _ := entry.Account.Location(l.Location)
		applied, err := s.apply(ctx, entry.Account.ID, f, l, now)
		if err != nil {
			return nil, err
		}
		if len(applied.Weeks) > 0 {
			byWarehouse[loc.Warehouse] = append(byWarehouse[loc.Warehouse], applied)
		}
	}
	var outs []bus.Outgoing
	for _, wh := range slices.Sorted(maps.Keys(byWarehouse)) {
		data := ForecastData{ForecastID: f.ForecastID, Version: f.Version, Issued: f.Issued, Lines: byWarehouse[wh]}
		out, err := bus.NewEvent(ev, typeForecast, "warehouse/"+wh, source, data)
		if err != nil {
			return nil, err
		}
		outs = append(outs, bus.Outgoing{Subject: bus.WarehouseSubject(wh, bus.Name(typeForecast)), Event: out})
	}
	s.log.Info("forecast shared", zap.String("account", entry.Account.ID), zap.String("forecast", f.ForecastID),
		zap.Int64("version", f.Version), zap.Int("lines", len(f.Lines)), zap.Int("warehouses", len(outs)))
	return outs, nil
}

// check lists what is wrong with a forecast for the account: locations not
// its own (unknown_ship_to), items it neither agreed for VMI nor ever
// reported (unknown_item), weeks before the current one (week_past).
func (s *Service) check(ctx context.Context, entry *accounts.Entry, f *ForecastData) ([]bus.Problem, error) {
	var ps []bus.Problem
	current := WeekOf(s.cfg.Now())
	known := map[string]bool{}
	for i, l := range f.Lines {
		at := fmt.Sprintf("data.lines[%d]", i)
		if _, ok := entry.Account.Location(l.Location); !ok {
			ps = append(ps, bus.Problem{Code: bus.CodeUnknownShipTo, Field: at + ".location",
				Message: fmt.Sprintf("%s is not a location of account %s", l.Location, entry.Account.ID)})
		}
		gtin := gs1.GTIN14(l.GTIN)
		ok, seen := known[gtin]
		if !seen {
			var err error
			if ok, err = s.isItem(ctx, entry, gtin); err != nil {
				return nil, err
			}
			known[gtin] = ok
		}
		if !ok {
			ps = append(ps, bus.Problem{Code: bus.CodeUnknownItem, Field: at + ".gtin",
				Message: fmt.Sprintf("%s is not an item of account %s: it is not in its VMI agreement and it never reported it", gtin, entry.Account.ID)})
		}
		for j, b := range l.Weeks {
			w, err := ParseWeek(string(b.Week))
			field := fmt.Sprintf("%s.weeks[%d]", at, j)
			switch {
			case err != nil:
				ps = append(ps, bus.Problem{Code: bus.CodeSchemaViolation, Field: field + ".week", Message: err.Error()})
			case w < current:
				ps = append(ps, bus.Problem{Code: bus.CodeWeekPast, Field: field + ".week",
					Message: fmt.Sprintf("week %s is past: forecasts are for the current week (%s) and later", w, current)})
			case b.Quantity < 0:
				ps = append(ps, bus.Problem{Code: bus.CodeSchemaViolation, Field: field + ".quantity", Message: "a forecast quantity is zero or more"})
			}
		}
	}
	return ps, nil
}

// isItem reports whether gtin (GTIN-14) is one of the account's items: in its
// VMI agreement, or reported by it in an inventory report.
func (s *Service) isItem(ctx context.Context, entry *accounts.Entry, gtin string) (bool, error) {
	if entry.Account.VMI != nil {
		for g := range entry.Account.VMI.Items {
			if gs1.GTIN14(g) == gtin {
				return true, nil
			}
		}
	}
	return s.store.Reported(ctx, entry.Account.ID, gtin)
}

// apply stores one line of forecast f in the forecast in force of its
// location and item, and returns the weeks it set. A version below the
// highest applied changes nothing; otherwise each week it names is taken
// unless a higher version set it. The same forecast again sets the same
// weeks to the same quantities (a redelivery announces the same events).
func (s *Service) apply(ctx context.Context, account string, f ForecastData, l ForecastLine, now Week) (ForecastLine, error) {
	gtin := gs1.GTIN14(l.GTIN)
	applied := ForecastLine{Location: l.Location, GTIN: gtin}
	_, _, err := update(ctx, s.store, fcKey(account, l.Location, gtin), func(fc *Forecast, created bool) bool {
		applied.Weeks = nil
		if created {
			fc.Account, fc.Location, fc.GTIN, fc.Weeks = account, l.Location, gtin, map[Week]Quantity{}
		}
		if f.Version < fc.Version {
			return false
		}
		changed := false
		for _, b := range l.Weeks {
			q, had := fc.Weeks[b.Week]
			if had && q.Version > f.Version {
				continue
			}
			applied.Weeks = append(applied.Weeks, b)
			if !had || q != (Quantity{Units: b.Quantity, Version: f.Version}) {
				fc.Weeks[b.Week] = Quantity{Units: b.Quantity, Version: f.Version}
				changed = true
			}
		}
		if f.Version > fc.Version {
			fc.Version, fc.ForecastID, changed = f.Version, f.ForecastID, true
		}
		prune(fc.Weeks, now)
		return changed
	})
	if err != nil {
		return ForecastLine{}, err
	}
	sort.Slice(applied.Weeks, func(i, j int) bool { return applied.Weeks[i].Week < applied.Weeks[j].Week })
	return applied, nil
}
