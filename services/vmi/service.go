package vmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/lanes"
	"github.com/crossdock/crossdock/services/planning"
)

// Bucket is the KV bucket of positions (pos.<account>.<gln>.<gtin14>), the
// replenishment index (rep.<id> → position key) and scheduled-run claims
// (run.<account>.<slot>).
const Bucket = "XD_VMI"

// source is the CloudEvents source of the events this service makes.
const source = "/crossdock/vmi"

// Event types the service takes and makes.
var (
	typeReported  = bus.Type("inventory.reported")
	typeRequested = bus.Type("replenishment.requested")
	typeShipment  = bus.Type("shipment.dispatched")
)

// Policy defaults for keys a tier file leaves at zero.
const (
	DefaultLeadDays     = 2
	DefaultReviewDays   = 1
	DefaultServiceLevel = 0.95
)

// maxAttempts bounds a position's optimistic read-modify-write: a conflict
// means another worker or process wrote it between our read and our write.
const maxAttempts = 10

// recentShipments is how many shipment ids a position remembers.
const recentShipments = 16

// Config configures the VMI service. The zero value is ready for use.
type Config struct {
	// Lanes sizes each lane; a missing lane gets priority 8, standard 4 or
	// bulk 2 workers.
	Lanes map[accounts.Lane]lanes.Size
	// Governor, when set, slows the bulk lane while priority events flow
	// and the process is short of CPU.
	Governor *lanes.Governor
	// Alpha is the demand smoothing constant per day; zero means DefaultAlpha.
	Alpha float64
	// CheckEvery is how often the scheduler looks for accounts whose
	// vmi_cutoff has passed; zero means 30 seconds.
	CheckEvery time.Duration
	// RunWorkers bounds the positions a scheduled run evaluates and writes at
	// once in this process, so that a large account's run leaves CPU and NATS
	// to the lanes; zero means 2.
	RunWorkers int
	// RunRate caps the positions per second a scheduled run reads in this
	// process; zero means no cap. See the README for what it buys.
	RunRate int
	// Now is the scheduler's clock; nil means time.Now. Reports are judged by
	// their own as_of and by the time JetStream stored them.
	Now func() time.Time
}

// Service is the VMI service.
type Service struct {
	cfg   Config
	bus   *bus.Bus
	reg   *accounts.Registry
	kv    jetstream.KeyValue
	plans *planning.Store // forecasts in force, for accounts with shared planning
	log   *zap.Logger
	runMu sync.Mutex // one scheduled run at a time in this process
	items sync.Map   // account id → *agreement, cached per registry revision
}

// New opens the VMI bucket and returns the service.
func New(ctx context.Context, cfg Config, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) (*Service, error) {
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 30 * time.Second
	}
	if cfg.RunWorkers <= 0 {
		cfg.RunWorkers = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// One revision per key: a scheduled run scans the bucket's stream in
	// order and must see each position once.
	kv, err := b.Bucket(ctx, Bucket, "VMI positions by account, location and GTIN; replenishment index; scheduled runs", 1)
	if err != nil {
		return nil, err
	}
	plans, err := planning.OpenStore(ctx, b)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, bus: b, reg: reg, kv: kv, plans: plans, log: log}, nil
}

// Run consumes every lane and runs the daily schedule until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return lanes.Run(ctx, s.bus, s.reg.Tiers(), lanes.Consumer{
		Service: "vmi", Source: source, Names: []string{bus.Name(typeReported), bus.Name(typeShipment)}, Sizes: s.cfg.Lanes, Handler: s.Handle, Governor: s.cfg.Governor,
	}, s.scheduleLoop)
}

// Handle is the consume handler of every lane.
func (s *Service) Handle(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	switch d.Event.Type() {
	case typeReported:
		return s.report(ctx, d)
	case typeShipment:
		return s.ship(ctx, d)
	}
	return nil, bus.Reject(bus.CodeUnknownType, "the VMI service does not take "+d.Event.Type(), "type")
}

// report is the data of crossdock.inventory.reported.v1.
type report struct {
	Location string `json:"location"`
	AsOf     string `json:"as_of"`
	Items    []Item `json:"items"`
}

func (s *Service) report(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	entry, ok := s.reg.Account(bus.Account(ev))
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", bus.Account(ev)), "account")
	}
	if entry.Policy.VMI == "off" {
		// The router checked the menu; the tier changed since.
		return nil, bus.Reject(bus.CodeNotInTierMenu, fmt.Sprintf("the %s tier does not include vendor-managed inventory", entry.Account.Tier), "type")
	}
	var r report
	if err := json.Unmarshal(ev.Data(), &r); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "inventory report data: "+err.Error(), "data")
	}
	loc, ok := entry.Account.Location(r.Location)
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownShipTo, fmt.Sprintf("%s is not a location of account %s", r.Location, entry.Account.ID), "data.location")
	}
	asOf, err := time.Parse(time.RFC3339, r.AsOf)
	if err != nil {
		return nil, bus.Reject(bus.CodeSchemaViolation, "as_of: want an RFC 3339 timestamp", "data.as_of")
	}
	var outs []bus.Outgoing
	for i := range r.Items {
		o, err := s.reportItem(ctx, d, entry, loc, asOf, r.Items[i])
		if err != nil {
			return nil, err
		}
		outs = append(outs, o...)
	}
	return outs, nil
}

// reportItem applies one report line to its position and, in continuous
// mode, evaluates it. A redelivered report changes nothing but announces
// again the replenishment it made (same ids: JetStream stores it once).
func (s *Service) reportItem(ctx context.Context, d *bus.Delivery, entry *accounts.Entry, loc accounts.Location, asOf time.Time, it Item) ([]bus.Outgoing, error) {
	ev := d.Event
	acct := entry.Account.ID
	gtin := gs1.GTIN14(it.GTIN)
	par, err := s.plan(ctx, entry, loc.GLN, gtin, asOf)
	if err != nil {
		return nil, err
	}
	key := posKey(acct, loc.GLN, gtin)
	p, err := s.update(ctx, key, func(p *Position) bool {
		if p.ReportID == "" {
			p.Account, p.Location, p.GTIN = acct, loc.GLN, gtin
		}
		if p.ReportID == ev.ID() || !p.Observe(it, asOf, ev.ID(), s.cfg.Alpha) {
			return false // a redelivery, or older than what the position holds
		}
		if entry.Policy.VMI == "continuous" {
			if dec := Evaluate(p, par); dec.Quantity > 0 {
				p.Open = newReplenishment(ev.ID(), loc.GLN, gtin, loc.Warehouse, d.Stored, dec)
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if p.Open == nil || p.Open.Cause != ev.ID() {
		return nil, nil
	}
	return s.announce(ctx, ev, p)
}

// newReplenishment is the replenishment cause (a report or a scheduled run)
// makes for one position; its id is that of the warehouse's event, derived
// from the cause and the position, so that the same cause always makes the
// same replenishment.
func newReplenishment(cause, gln, gtin, warehouse string, at time.Time, dec Decision) *Replenishment {
	return &Replenishment{
		ID: bus.DeriveID(cause, typeRequested+"/"+eventKind(gln, gtin)), Quantity: dec.Quantity, Cause: cause, Warehouse: warehouse,
		RequestedAt: at.UTC(), Position: dec.Position, Reorder: round2(dec.Reorder), Target: round2(dec.Target), Rule: dec.Rule,
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// requested is the data of crossdock.replenishment.requested.v1.
type requested struct {
	ReplenishmentID string `json:"replenishment_id"`
	Account         string `json:"account"`
	Location        string `json:"location"`
	Warehouse       string `json:"warehouse"`
	GTIN            string `json:"gtin"`
	Quantity        int64  `json:"quantity"`
	Reason          reason `json:"reason"`
}

type reason struct {
	Position     int64   `json:"position"`
	ReorderPoint float64 `json:"reorder_point"`
	Target       float64 `json:"target"`
	Rule         string  `json:"rule,omitempty"` // forecast | reported_demand
}

// announce indexes p's open replenishment by id (for shipments) and returns
// it for the warehouse and, as a copy with its own event id, for the
// customer: one stream dedupes by event id, so the two cannot share one.
func (s *Service) announce(ctx context.Context, cause *event.Event, p *Position) ([]bus.Outgoing, error) {
	r := p.Open
	if _, err := s.kv.Put(ctx, repKey(r.ID), []byte(posKey(p.Account, p.Location, p.GTIN))); err != nil {
		return nil, fmt.Errorf("index replenishment %s: %w", r.ID, err)
	}
	data := requested{
		ReplenishmentID: r.ID, Account: p.Account, Location: p.Location, Warehouse: r.Warehouse, GTIN: p.GTIN, Quantity: r.Quantity,
		Reason: reason{Position: r.Position, ReorderPoint: r.Reorder, Target: r.Target, Rule: r.Rule},
	}
	wh, err := bus.NewEvent(cause, typeRequested, eventKind(p.Location, p.GTIN), source, data)
	if err != nil {
		return nil, err
	}
	if wh.ID() != r.ID {
		return nil, fmt.Errorf("replenishment %s of %s was not made by %s", r.ID, posKey(p.Account, p.Location, p.GTIN), cause.ID())
	}
	cp, err := bus.NewEvent(cause, typeRequested, eventKind(p.Location, p.GTIN)+"/copy", source, data)
	if err != nil {
		return nil, err
	}
	return []bus.Outgoing{
		{Subject: bus.WarehouseSubject(r.Warehouse, bus.Name(typeRequested)), Event: wh},
		{Subject: bus.OutSubject(p.Account, bus.Name(typeRequested)), Event: cp},
	}, nil
}

// plan is the replenishment policy of one item at one location at time
// now: params, with the forecast in force when the account shares planning.
func (s *Service) plan(ctx context.Context, entry *accounts.Entry, gln, gtin string, now time.Time) (Params, error) {
	par := s.params(entry, gtin)
	if !entry.Policy.SharesPlanning() {
		return par, nil
	}
	fc, err := s.plans.Forecast(ctx, entry.Account.ID, gln, gtin)
	if err != nil {
		return par, err
	}
	par.Forecast, par.Now = fc, now
	par.SafetyDays = entry.Policy.PlanningSafetyDays
	if par.SafetyDays == 0 {
		par.SafetyDays = planning.DefaultSafetyDays
	}
	return par, nil
}

// params is the replenishment policy of one item of an account: the
// effective tier policy, the service's defaults where it is silent, and the
// VMI agreement's per-item overrides.
func (s *Service) params(entry *accounts.Entry, gtin string) Params {
	pol := entry.Policy
	par := Params{
		LeadDays: pol.VMILeadDays, ReviewDays: pol.VMIReviewDays, ServiceLevel: pol.VMIServiceLevel,
		CasePack: pol.VMICasePack, Alpha: s.cfg.Alpha,
	}
	if par.LeadDays == 0 {
		par.LeadDays = DefaultLeadDays
	}
	if par.ReviewDays == 0 {
		par.ReviewDays = DefaultReviewDays
	}
	if par.ServiceLevel == 0 {
		par.ServiceLevel = DefaultServiceLevel
	}
	if it, ok := s.agreement(entry)[gtin]; ok {
		par.Min, par.Max = it.Min, it.Max
		if it.CasePack > 0 {
			par.CasePack = it.CasePack
		}
		if it.LeadDays > 0 {
			par.LeadDays = it.LeadDays
		}
	}
	return par
}

type agreement struct {
	revision uint64
	items    map[string]accounts.VMIItem // by GTIN-14
}

// agreement returns the account's VMI items keyed by GTIN-14, normalised once
// per registry revision of the account rather than per evaluation.
func (s *Service) agreement(entry *accounts.Entry) map[string]accounts.VMIItem {
	if entry.Account.VMI == nil || len(entry.Account.VMI.Items) == 0 {
		return nil
	}
	if a, ok := s.items.Load(entry.Account.ID); ok && a.(*agreement).revision == entry.Revision {
		return a.(*agreement).items
	}
	a := &agreement{revision: entry.Revision, items: make(map[string]accounts.VMIItem, len(entry.Account.VMI.Items))}
	for g, it := range entry.Account.VMI.Items {
		a.items[gs1.GTIN14(g)] = it
	}
	s.items.Store(entry.Account.ID, a)
	return a.items
}

// update reads a position, lets change modify it (it reports whether it
// did), and writes it back at the revision it read: a create when new, an
// update otherwise. On a conflict it reads again and retries, so that two
// workers or processes never overwrite each other. It returns the position
// as stored.
func (s *Service) update(ctx context.Context, key string, change func(*Position) bool) (*Position, error) {
	for range maxAttempts {
		p, rev, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		if p == nil {
			p = &Position{}
		}
		if !change(p) {
			return p, nil
		}
		if err := s.put(ctx, key, p, rev); err == nil {
			return p, nil
		} else if !bus.IsConflict(err) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("write position %s: still conflicting after %d attempts", key, maxAttempts)
}

// get reads a position; a missing key is (nil, 0, nil).
func (s *Service) get(ctx context.Context, key string) (*Position, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read position %s: %w", key, err)
	}
	var p Position
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return nil, 0, fmt.Errorf("decode position %s: %w", key, err)
	}
	return &p, e.Revision(), nil
}

// put writes a position read at revision rev (0: it did not exist).
func (s *Service) put(ctx context.Context, key string, p *Position, rev uint64) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode position %s: %w", key, err)
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, b)
	} else {
		_, err = s.kv.Update(ctx, key, b, rev)
	}
	if err != nil {
		return fmt.Errorf("write position %s: %w", key, err)
	}
	return nil
}

// eventKind distinguishes the replenishments one cause makes: a scheduled
// run makes one per position.
func eventKind(gln, gtin string) string { return gln + "/" + gtin }

// posKey is the bucket key of a position. Account ids are [a-z0-9-], GLNs and
// GTIN-14s digits: all valid key tokens.
func posKey(account, gln, gtin string) string { return "pos." + account + "." + gln + "." + gtin }

// repKey indexes a replenishment by id, for shipments.
func repKey(id string) string { return "rep." + id }
