package accounts

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// contractTiers is the defaults table of CONTRACT.md section 4, written out
// by hand so that a change to tiers.yaml that breaks the contract fails here.
var contractTiers = TierSet{
	Strategic: {
		Lane: Priority, VMI: "continuous", VMICutoff: "18:00", RFID: "on", FactoryPickup: true,
		Delivery: "realtime", DigestEvery: Duration(24 * time.Hour), Experiments: "none",
		MinOrderUnits: []MinOrderStep{}, OrderDays: AllWeekdays, ShipTo: []string{"dc", "store"},
		VMILeadDays: 2, VMIReviewDays: 1, VMIServiceLevel: 0.98, VMICasePack: 1,
		Quota:    Quota{EventsPerSecond: 1000, BytesPerSecond: 8 << 20, BurstSeconds: 10},
		SLO:      SLO{Objective: 0.99, AcceptWithin: Duration(250 * time.Millisecond)},
		Planning: "shared", PlanningSafetyDays: 2, PlanningExceptionThreshold: 0.25,
	},
	Integrated: {
		Lane: Standard, VMI: "scheduled", VMICutoff: "18:00", RFID: "on", FactoryPickup: false,
		Delivery: "realtime", DigestEvery: Duration(24 * time.Hour), Experiments: "none",
		MinOrderUnits: []MinOrderStep{}, OrderDays: AllWeekdays, ShipTo: []string{"dc", "store"},
		VMILeadDays: 3, VMIReviewDays: 1, VMIServiceLevel: 0.95, VMICasePack: 1,
		Quota:    Quota{EventsPerSecond: 500, BytesPerSecond: 4 << 20, BurstSeconds: 10},
		SLO:      SLO{Objective: 0.99, AcceptWithin: Duration(time.Second)},
		Planning: "off",
	},
	Emerging: {
		Lane: Standard, VMI: "off", VMICutoff: "18:00", RFID: "off", FactoryPickup: false,
		Delivery: "realtime", DigestEvery: Duration(24 * time.Hour), Experiments: "allowed",
		MinOrderUnits: []MinOrderStep{}, OrderDays: AllWeekdays, ShipTo: []string{"dc", "store"},
		Quota:    Quota{EventsPerSecond: 200, BytesPerSecond: 2 << 20, BurstSeconds: 10},
		SLO:      SLO{Objective: 0.98, AcceptWithin: Duration(5 * time.Second)},
		Planning: "off",
	},
	Stable: {
		Lane: Bulk, VMI: "off", VMICutoff: "18:00", RFID: "off", FactoryPickup: false,
		Delivery: "batched", DigestEvery: Duration(24 * time.Hour), Experiments: "none",
		MinOrderUnits: []MinOrderStep{{LeadDays: 14, Units: 100}, {LeadDays: 7, Units: 250}, {LeadDays: 0, Units: 500}},
		OrderDays:     Weekdays{time.Monday}, ShipTo: []string{"dc"},
		Quota:    Quota{EventsPerSecond: 100, BytesPerSecond: 1 << 20, BurstSeconds: 10},
		SLO:      SLO{Objective: 0.95, AcceptWithin: Duration(24 * time.Hour)},
		Planning: "off",
	},
}

func TestDefaultTiersAreTheContractTable(t *testing.T) {
	t.Parallel()
	got := DefaultTiers()
	if len(got) != len(Tiers) {
		t.Fatalf("DefaultTiers() has %d tiers, want %d", len(got), len(Tiers))
	}
	for _, tier := range Tiers {
		t.Run(string(tier)+" gets the contract's policy", func(t *testing.T) {
			if !reflect.DeepEqual(got[tier], contractTiers[tier]) {
				t.Errorf("DefaultTiers()[%s] =\n%+v\nwant\n%+v", tier, got[tier], contractTiers[tier])
			}
		})
	}
}

func TestDefaultTiersReturnsACopy(t *testing.T) {
	t.Parallel()
	a := DefaultTiers()
	p := a[Stable]
	p.ShipTo[0] = "store"
	a[Strategic] = Policy{}
	if b := DefaultTiers(); !reflect.DeepEqual(b, contractTiers) {
		t.Errorf("changing one DefaultTiers() result changed the next: %+v", b)
	}
}

func TestBuiltinTierFileIsTheDeployCopy(t *testing.T) {
	t.Parallel()
	deployed, err := os.ReadFile("../../deploy/tiers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deployed, builtinTiers) {
		t.Error("deploy/tiers.yaml differs from services/accounts/tiers.yaml; they must be byte-identical")
	}
	ts, err := LoadTiers("../../deploy/tiers.yaml")
	if err != nil {
		t.Fatalf("LoadTiers(deploy/tiers.yaml): %v", err)
	}
	if !reflect.DeepEqual(ts, contractTiers) {
		t.Errorf("LoadTiers(deploy/tiers.yaml) = %+v, want the contract table", ts)
	}
}

func TestParseTiers(t *testing.T) {
	t.Parallel()
	tierFile := func(strategic string) string {
		return "tiers:\n  strategic: " + strategic + `
  integrated: {lane: standard, vmi: scheduled, vmi_cutoff: "18:00", rfid: "on", delivery: realtime, experiments: none, order_days: all, ship_to: [dc, store]}
  emerging: {lane: standard, vmi: "off", rfid: "off", delivery: realtime, experiments: allowed, order_days: all, ship_to: [dc, store]}
  stable: {lane: bulk, vmi: "off", rfid: "off", delivery: batched, digest_every: 24h, experiments: none, order_days: [mon], ship_to: [dc]}
`
	}
	const good = `{lane: priority, vmi: continuous, rfid: "on", factory_pickup: true, delivery: realtime, experiments: none, order_days: all, ship_to: [dc, store]}`
	tests := []struct {
		name    string
		file    string
		wantErr string
		check   func(TierSet) bool
	}{
		{name: "a complete file loads", file: tierFile(good)},
		{
			name: "bare on and off are read as the words, not as booleans",
			file: tierFile(`{lane: priority, vmi: continuous, rfid: on, delivery: realtime, experiments: none, order_days: all, ship_to: [dc]}`),
			check: func(ts TierSet) bool {
				return ts[Strategic].RFID == "on" && ts[Emerging].VMI == "off"
			},
		},
		{
			name:  "a YAML 1.1 boolean for rfid is read as on or off",
			file:  tierFile(`{lane: priority, vmi: continuous, rfid: true, delivery: realtime, experiments: none, order_days: all, ship_to: [dc]}`),
			check: func(ts TierSet) bool { return ts[Strategic].RFID == "on" },
		},
		{
			name:    "an unknown key names the tier and the key",
			file:    tierFile(`{lane: priority, colour: gold, vmi: continuous, rfid: "on", delivery: realtime, experiments: none, order_days: all, ship_to: [dc]}`),
			wantErr: `tier file: tier "strategic": colour: unknown key; want one of delivery, digest_every, experiments, factory_pickup, lane, min_order_units, order_days, planning, planning_exception_threshold, planning_safety_days, quota, rfid, rfid_dedupe_window, ship_to, slo, vmi, vmi_case_pack, vmi_cutoff, vmi_lead_days, vmi_review_days, vmi_service_level`,
		},
		{
			name:    "an unknown key inside a minimum order step is refused",
			file:    tierFile(`{lane: priority, vmi: continuous, rfid: "on", delivery: realtime, experiments: none, order_days: all, ship_to: [dc], min_order_units: [{lead_days: 1, pieces: 5}]}`),
			wantErr: `tier file: tier "strategic": min_order_units: field pieces not found in type accounts.MinOrderStep`,
		},
		{
			name:    "a missing tier is named",
			file:    strings.Replace(tierFile(good), "  stable:", "  # stable:", 1),
			wantErr: `tier file: tier "stable": missing; a tier file names all of strategic, integrated, emerging, stable`,
		},
		{
			name:    "an unknown tier is named",
			file:    tierFile(good) + "  gold: {lane: priority}\n",
			wantErr: `tier file: tier "gold": unknown tier; want strategic, integrated, emerging, stable`,
		},
		{
			name:    "a policy that does not validate names the tier and key",
			file:    tierFile(`{lane: express, vmi: continuous, rfid: "on", delivery: realtime, experiments: none, order_days: all, ship_to: [dc]}`),
			wantErr: `tier file: tier "strategic": lane "express": want one of priority, standard, bulk`,
		},
		{
			name:    "a bad duration names the tier and key",
			file:    tierFile(`{lane: priority, vmi: continuous, rfid: "on", delivery: batched, digest_every: daily, experiments: none, order_days: all, ship_to: [dc]}`),
			wantErr: `tier file: tier "strategic": digest_every: duration "daily": time: invalid duration "daily"`,
		},
		{
			name:    "an unknown top-level key is refused",
			file:    "version: 2\n" + tierFile(good),
			wantErr: `tier file: version: unknown key; want tiers`,
		},
		{
			name:    "an empty file is refused",
			file:    "",
			wantErr: `tier file: empty; want tiers: with strategic, integrated, emerging, stable`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := ParseTiers([]byte(tc.file))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseTiers() error = %v,\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTiers() error = %v", err)
			}
			if tc.check != nil && !tc.check(ts) {
				t.Errorf("ParseTiers() = %+v, fails the check", ts)
			}
		})
	}
}

func TestTiersIn(t *testing.T) {
	t.Parallel()
	ts := DefaultTiers()
	moved := DefaultTiers()
	p := moved[Integrated]
	p.Lane = Priority
	moved[Integrated] = p
	allBulk := DefaultTiers()
	for tier, p := range allBulk {
		p.Lane = Bulk
		allBulk[tier] = p
	}
	tests := []struct {
		name string
		ts   TierSet
		lane Lane
		want []Tier
	}{
		{"the priority lane carries strategic accounts", ts, Priority, []Tier{Strategic}},
		{"the standard lane carries integrated and emerging accounts", ts, Standard, []Tier{Integrated, Emerging}},
		{"the bulk lane carries stable accounts", ts, Bulk, []Tier{Stable}},
		{"a tier moved to another lane in the tier file follows it", moved, Priority, []Tier{Strategic, Integrated}},
		{"a lane no tier uses carries none", allBulk, Standard, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ts.TiersIn(tc.lane); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("TiersIn(%s) = %v, want %v", tc.lane, got, tc.want)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	t.Parallel()
	ts := DefaultTiers()
	stable := ts[Stable]
	fromYAML := func(t *testing.T, policy string) map[string]any {
		t.Helper()
		f, err := ParseFile([]byte(`
warehouses: [{id: dc}]
accounts:
  - {id: a, tier: stable, policy: `+policy+`}
`), ts)
		if err != nil {
			t.Fatal(err)
		}
		return f.Accounts[0].Overrides
	}
	fromJSON := func(t *testing.T, policy string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(policy), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name      string
		tier      Tier
		overrides func(t *testing.T) map[string]any
		want      func() Policy
		wantErr   string
	}{
		{
			name: "without overrides the tier's policy applies",
			tier: Stable,
			want: func() Policy { return stable },
		},
		{
			name:      "a scalar override replaces that key only",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return fromYAML(t, `{delivery: realtime}`) },
			want:      func() Policy { p := stable.clone(); p.Delivery = "realtime"; return p },
		},
		{
			name: "a list override replaces the tier's list",
			tier: Stable,
			overrides: func(t *testing.T) map[string]any {
				return fromYAML(t, `{order_days: [mon, thu], ship_to: [dc, store]}`)
			},
			want: func() Policy {
				p := stable.clone()
				p.OrderDays, p.ShipTo = Weekdays{time.Monday, time.Thursday}, []string{"dc", "store"}
				return p
			},
		},
		{
			name:      "an empty list removes the minimum order rule",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return fromYAML(t, `{min_order_units: []}`) },
			want:      func() Policy { p := stable.clone(); p.MinOrderUnits = []MinOrderStep{}; return p },
		},
		{
			name: "overrides read back from the registry's JSON apply the same",
			tier: Stable,
			overrides: func(t *testing.T) map[string]any {
				return fromJSON(t, `{"min_order_units":[{"lead_days":3,"units":50}],"rfid":"on"}`)
			},
			want: func() Policy {
				p := stable.clone()
				p.MinOrderUnits, p.RFID = []MinOrderStep{{LeadDays: 3, Units: 50}}, "on"
				return p
			},
		},
		{
			name:      "a boolean for rfid is read as on",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return fromJSON(t, `{"rfid":true}`) },
			want:      func() Policy { p := stable.clone(); p.RFID = "on"; return p },
		},
		{
			name: "an account of a tier without shared planning can be given it, with its own threshold",
			tier: Stable,
			overrides: func(t *testing.T) map[string]any {
				return fromYAML(t, `{planning: shared, planning_exception_threshold: 0.4}`)
			},
			want: func() Policy {
				p := stable.clone()
				p.Planning, p.PlanningExceptionThreshold = "shared", 0.4
				return p
			},
		},
		{
			name:      "planning is shared or off",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return map[string]any{"planning": "joint"} },
			wantErr:   `policy.planning "joint": want shared or off`,
		},
		{
			name:      "lane cannot be overridden",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return map[string]any{"lane": "priority"} },
			wantErr:   "policy.lane: cannot be overridden, lanes follow tiers (change the account's tier instead)",
		},
		{
			name:      "an unknown key is an error",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return map[string]any{"discount": 5} },
			wantErr:   "policy.discount: unknown key; want one of delivery, digest_every, experiments, factory_pickup, lane, min_order_units, order_days, planning, planning_exception_threshold, planning_safety_days, quota, rfid, rfid_dedupe_window, ship_to, slo, vmi, vmi_case_pack, vmi_cutoff, vmi_lead_days, vmi_review_days, vmi_service_level",
		},
		{
			name:      "a merged policy that does not validate is an error",
			tier:      Stable,
			overrides: func(t *testing.T) map[string]any { return map[string]any{"vmi": "scheduled", "vmi_cutoff": "25:00"} },
			wantErr:   `policy.vmi_cutoff "25:00": want HH:MM (UTC)`,
		},
		{
			name: "a quota override keeps the tier's values for the keys it leaves out",
			tier: Stable,
			overrides: func(t *testing.T) map[string]any {
				return map[string]any{"quota": map[string]any{"events_per_second": 5}}
			},
			want: func() Policy {
				p := contractTiers[Stable].clone()
				p.Quota.EventsPerSecond = 5
				return p
			},
		},
		{
			name: "a negative quota is an error",
			tier: Stable,
			overrides: func(t *testing.T) map[string]any {
				return map[string]any{"quota": map[string]any{"bytes_per_second": -1}}
			},
			wantErr: "policy.quota.bytes_per_second -1: must not be negative (0: no bound)",
		},
		{
			name:    "an unknown tier is an error",
			tier:    "gold",
			wantErr: `tier "gold": want one of strategic, integrated, emerging, stable`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &Account{ID: "a", Tier: tc.tier}
			if tc.overrides != nil {
				a.Overrides = tc.overrides(t)
			}
			got, err := Effective(ts, a)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Effective() error = %v,\nwant %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Effective() error = %v", err)
			}
			if want := tc.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("Effective() =\n%+v\nwant\n%+v", got, want)
			}
			if !reflect.DeepEqual(ts, contractTiers) {
				t.Errorf("Effective() changed the tier set: %+v", ts)
			}
		})
	}
}
