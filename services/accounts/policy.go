package accounts

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Tier is an account's commercial tier; it selects the policy the account gets.
type Tier string

// The four tiers of CONTRACT.md section 4.
const (
	Strategic  Tier = "strategic"
	Integrated Tier = "integrated"
	Emerging   Tier = "emerging"
	Stable     Tier = "stable"
)

// Tiers lists every tier, from the most to the least integrated.
var Tiers = []Tier{Strategic, Integrated, Emerging, Stable}

// Valid reports whether t is one of the four tiers.
func (t Tier) Valid() bool { return slices.Contains(Tiers, t) }

// Lane is an isolated processing lane: each consuming service has one durable
// consumer, with its own workers, per lane.
type Lane string

// The processing lanes.
const (
	Priority Lane = "priority"
	Standard Lane = "standard"
	Bulk     Lane = "bulk"
)

// Lanes lists every lane.
var Lanes = []Lane{Priority, Standard, Bulk}

// MinOrderStep is one step of a minimum-order rule: orders with a lead time of
// at least LeadDays days need at least Units units.
type MinOrderStep struct {
	LeadDays int `yaml:"lead_days" json:"lead_days"`
	Units    int `yaml:"units" json:"units"`
}

// Policy is what a tier (or one account's override of it) grants and demands.
// YAML keys are those of the tier file (CONTRACT.md section 4).
type Policy struct {
	Lane          Lane           `yaml:"lane" json:"lane"`
	VMI           string         `yaml:"vmi" json:"vmi"`               // continuous | scheduled | off
	VMICutoff     string         `yaml:"vmi_cutoff" json:"vmi_cutoff"` // HH:MM UTC, for scheduled VMI
	RFID          string         `yaml:"rfid" json:"rfid"`             // on | off
	FactoryPickup bool           `yaml:"factory_pickup" json:"factory_pickup"`
	Delivery      string         `yaml:"delivery" json:"delivery"`         // realtime | batched
	DigestEvery   Duration       `yaml:"digest_every" json:"digest_every"` // for batched delivery
	Experiments   string         `yaml:"experiments" json:"experiments"`   // none | allowed
	MinOrderUnits []MinOrderStep `yaml:"min_order_units" json:"min_order_units"`
	OrderDays     Weekdays       `yaml:"order_days" json:"order_days"`
	ShipTo        []string       `yaml:"ship_to" json:"ship_to"` // allowed location types: dc, store
	// RFIDDedupeWindow is how long reads of one EPC at one read point count
	// as one observation (read storms); zero means the rfid service's
	// default of 5s.
	RFIDDedupeWindow Duration `yaml:"rfid_dedupe_window" json:"rfid_dedupe_window,omitempty"`
	// VMI replenishment policy; zero means the VMI service's default.
	VMILeadDays     float64 `yaml:"vmi_lead_days" json:"vmi_lead_days"`         // days from request to receipt
	VMIReviewDays   float64 `yaml:"vmi_review_days" json:"vmi_review_days"`     // days the order-up-to level covers beyond the lead time
	VMIServiceLevel float64 `yaml:"vmi_service_level" json:"vmi_service_level"` // chance of no stock-out in the lead time, 0.5 to 0.9999
	VMICasePack     int64   `yaml:"vmi_case_pack" json:"vmi_case_pack"`         // default units per case
	// Quota bounds what the account may send, over HTTP and NATS alike
	// (docs/security.md); its zero value sets no bound.
	Quota Quota `yaml:"quota" json:"quota"`
	// SLO is the tier's service level objective for orders: the share of
	// order.placed events answered by a decision (accepted, held or
	// rejected) within AcceptWithin of intake. Zero: none (the console and
	// /metrics then show no burn rate).
	SLO SLO `yaml:"slo" json:"slo"`
	// Planning is shared planning (docs/planning.md): "shared" takes the
	// account's forecasts, plans VMI on them and reports exceptions and
	// accuracy; "off" (or unset) refuses forecasts with not_in_tier_menu.
	Planning string `yaml:"planning" json:"planning,omitempty"`
	// PlanningSafetyDays is the safety stock of forecast-driven VMI, in days
	// of the forecast's daily demand over the lead time; zero means the
	// planning service's default.
	PlanningSafetyDays float64 `yaml:"planning_safety_days" json:"planning_safety_days,omitempty"`
	// PlanningExceptionThreshold is the share of a week's forecast by which
	// actual sales may differ before a forecast exception is raised (0.25:
	// 25%); zero means the planning service's default.
	PlanningExceptionThreshold float64 `yaml:"planning_exception_threshold" json:"planning_exception_threshold,omitempty"`
}

// Quota is an account's intake quota, enforced at the gateway: over it, an
// HTTP request is answered 429 rate_limited with Retry-After and a NATS
// publish gets a 429 JetStream-shaped error. Each rate is a token bucket
// that holds BurstSeconds of it, so that a sender idle for a while may send
// that much at once. A zero rate is no bound (the bench's fleet, a
// trusted internal sender). An account's policy override may name some of
// the keys; the others keep the tier's value.
type Quota struct {
	EventsPerSecond float64 `yaml:"events_per_second" json:"events_per_second"` // CloudEvents (and partners' files) per second
	BytesPerSecond  float64 `yaml:"bytes_per_second" json:"bytes_per_second"`   // request or message bytes per second
	BurstSeconds    float64 `yaml:"burst_seconds" json:"burst_seconds"`         // seconds of either rate that may arrive at once; 0 means 1
}

// validate reports the first thing wrong with q, naming its key.
func (q Quota) validate() error {
	switch {
	case q.EventsPerSecond < 0:
		return fmt.Errorf("quota.events_per_second %v: must not be negative (0: no bound)", q.EventsPerSecond)
	case q.BytesPerSecond < 0:
		return fmt.Errorf("quota.bytes_per_second %v: must not be negative (0: no bound)", q.BytesPerSecond)
	case q.BurstSeconds < 0 || q.BurstSeconds > 3600:
		return fmt.Errorf("quota.burst_seconds %v: want 0 to 3600", q.BurstSeconds)
	}
	return nil
}

// SLO is a latency objective: Objective (0.9 to 0.99999) of orders decided
// within AcceptWithin of their intake, measured over rolling windows (the
// flow package computes the error budget's burn rate).
type SLO struct {
	Objective    float64  `yaml:"objective" json:"objective"`
	AcceptWithin Duration `yaml:"accept_within" json:"accept_within"`
}

// Set reports whether there is an objective.
func (s SLO) Set() bool { return s.Objective > 0 }

// Planning modes of the policy key planning.
const (
	PlanningShared = "shared"
	PlanningOff    = "off"
)

// SharesPlanning reports whether the policy takes shared forecasts.
func (p Policy) SharesPlanning() bool { return p.Planning == PlanningShared }

// Validate reports the first thing wrong with p, naming its key.
func (p Policy) Validate() error {
	if !slices.Contains(Lanes, p.Lane) {
		return fmt.Errorf("lane %q: want one of priority, standard, bulk", p.Lane)
	}
	if !slices.Contains([]string{"continuous", "scheduled", "off"}, p.VMI) {
		return fmt.Errorf("vmi %q: want continuous, scheduled or off", p.VMI)
	}
	if p.VMI == "scheduled" {
		if _, err := time.Parse("15:04", p.VMICutoff); err != nil {
			return fmt.Errorf("vmi_cutoff %q: want HH:MM (UTC)", p.VMICutoff)
		}
	}
	if err := p.validateVMI(); err != nil {
		return err
	}
	if err := p.Quota.validate(); err != nil {
		return err
	}
	if err := p.validatePlanning(); err != nil {
		return err
	}
	if p.RFID != "on" && p.RFID != "off" {
		return fmt.Errorf("rfid %q: want on or off", p.RFID)
	}
	if p.Delivery != "realtime" && p.Delivery != "batched" {
		return fmt.Errorf("delivery %q: want realtime or batched", p.Delivery)
	}
	if p.Delivery == "batched" && p.DigestEvery <= 0 {
		return fmt.Errorf("digest_every %s: want a positive duration for batched delivery", p.DigestEvery)
	}
	if p.Experiments != "none" && p.Experiments != "allowed" {
		return fmt.Errorf("experiments %q: want none or allowed", p.Experiments)
	}
	for i, s := range p.MinOrderUnits {
		if s.LeadDays < 0 || s.Units < 0 {
			return fmt.Errorf("min_order_units[%d]: lead_days and units must not be negative", i)
		}
	}
	if len(p.OrderDays) == 0 {
		return fmt.Errorf("order_days: name at least one weekday")
	}
	if len(p.ShipTo) == 0 {
		return fmt.Errorf("ship_to: name at least one location type")
	}
	if p.RFIDDedupeWindow < 0 {
		return fmt.Errorf("rfid_dedupe_window %s: must not be negative", p.RFIDDedupeWindow)
	}
	for _, t := range p.ShipTo {
		if t != LocationDC && t != LocationStore {
			return fmt.Errorf("ship_to %q: want dc or store", t)
		}
	}
	if p.SLO.Set() && (p.SLO.Objective < 0.9 || p.SLO.Objective > 0.99999 || p.SLO.AcceptWithin <= 0) {
		return fmt.Errorf("slo {objective: %v, accept_within: %s}: want an objective of 0.9 to 0.99999 and a positive accept_within", p.SLO.Objective, p.SLO.AcceptWithin)
	}
	if !p.SLO.Set() && p.SLO.AcceptWithin != 0 {
		return fmt.Errorf("slo: accept_within without an objective")
	}
	return nil
}

// validateVMI checks the replenishment keys. Zero means unset: the VMI
// service then uses its own defaults (see services/vmi), so that tiers
// without VMI, and older tier files, need not name them.
func (p Policy) validateVMI() error {
	switch {
	case p.VMILeadDays < 0 || p.VMILeadDays > 365:
		return fmt.Errorf("vmi_lead_days %v: want 0 (the default) to 365 days", p.VMILeadDays)
	case p.VMIReviewDays < 0 || p.VMIReviewDays > 365:
		return fmt.Errorf("vmi_review_days %v: want 0 (the default) to 365 days", p.VMIReviewDays)
	case p.VMIServiceLevel != 0 && (p.VMIServiceLevel < 0.5 || p.VMIServiceLevel > 0.9999):
		return fmt.Errorf("vmi_service_level %v: want 0.5 to 0.9999, or 0 for the default", p.VMIServiceLevel)
	case p.VMICasePack < 0:
		return fmt.Errorf("vmi_case_pack %d: want 1 or more, or 0 for the default", p.VMICasePack)
	}
	return nil
}

// validatePlanning checks the shared planning keys; zero means unset (off,
// and the planning service's defaults).
func (p Policy) validatePlanning() error {
	switch {
	case p.Planning != "" && p.Planning != PlanningShared && p.Planning != PlanningOff:
		return fmt.Errorf("planning %q: want shared or off", p.Planning)
	case p.PlanningSafetyDays < 0 || p.PlanningSafetyDays > 90:
		return fmt.Errorf("planning_safety_days %v: want 0 (the default) to 90 days", p.PlanningSafetyDays)
	case p.PlanningExceptionThreshold < 0 || p.PlanningExceptionThreshold > 10:
		return fmt.Errorf("planning_exception_threshold %v: want a share above 0 (0.25 is 25%%) up to 10, or 0 for the default", p.PlanningExceptionThreshold)
	}
	return nil
}

// MinOrder returns the minimum units for an order with the given lead time in
// days: the step with the largest lead_days not above it, or 0 when none applies.
func (p Policy) MinOrder(leadDays int) int {
	best, units := -1, 0
	for _, s := range p.MinOrderUnits {
		if s.LeadDays <= leadDays && s.LeadDays > best {
			best, units = s.LeadDays, s.Units
		}
	}
	return units
}

// AllowsShipTo reports whether orders may be delivered to a location of this type.
func (p Policy) AllowsShipTo(locationType string) bool {
	return slices.Contains(p.ShipTo, locationType)
}

// Weekdays is a set of UTC weekdays, written in YAML and JSON as
// [mon, tue, ...] or the word "all".
type Weekdays []time.Weekday

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// AllWeekdays is every day of the week.
var AllWeekdays = Weekdays{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}

// Contains reports whether d is in the set.
func (w Weekdays) Contains(d time.Weekday) bool { return slices.Contains(w, d) }

// Next returns the start (00:00 UTC) of the first day in the set that is on or
// after t's day; t itself is returned when its day is in the set.
func (w Weekdays) Next(t time.Time) time.Time {
	t = t.UTC()
	if w.Contains(t.Weekday()) {
		return t
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 7; i++ {
		d := day.AddDate(0, 0, i)
		if w.Contains(d.Weekday()) {
			return d
		}
	}
	return t // empty set: Validate forbids it
}

// UnmarshalYAML accepts "all" or a list of three-letter day names.
func (w *Weekdays) UnmarshalYAML(unmarshal func(any) error) error {
	var word string
	if err := unmarshal(&word); err == nil {
		if word != "all" {
			return fmt.Errorf("order_days %q: want all or a list such as [mon, thu]", word)
		}
		*w = slices.Clone(AllWeekdays)
		return nil
	}
	var names []string
	if err := unmarshal(&names); err != nil {
		return fmt.Errorf("order_days: want all or a list such as [mon, thu]")
	}
	days, err := parseWeekdays(names)
	if err != nil {
		return err
	}
	*w = days
	return nil
}

func parseWeekdays(names []string) (Weekdays, error) {
	var days Weekdays
	for _, n := range names {
		i := slices.Index(weekdayNames, strings.ToLower(n))
		if i < 0 {
			return nil, fmt.Errorf("order_days: %q is not a weekday (sun, mon, tue, wed, thu, fri, sat)", n)
		}
		if !days.Contains(time.Weekday(i)) {
			days = append(days, time.Weekday(i))
		}
	}
	return days, nil
}

// MarshalJSON writes the set as a list of day names.
func (w Weekdays) MarshalJSON() ([]byte, error) {
	names := make([]string, len(w))
	for i, d := range w {
		names[i] = `"` + weekdayNames[d] + `"`
	}
	return []byte("[" + strings.Join(names, ",") + "]"), nil
}

// UnmarshalJSON reads a list of day names.
func (w *Weekdays) UnmarshalJSON(b []byte) error {
	var names []string
	if err := jsonUnmarshal(b, &names); err != nil {
		return err
	}
	days, err := parseWeekdays(names)
	*w = days
	return err
}

// Duration is a time.Duration written as "24h" or "90m" in YAML and JSON.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// UnmarshalJSON parses a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := jsonUnmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}
