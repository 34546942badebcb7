package accounts

import (
	"encoding/json"
	"regexp"
	"slices"
)

// Location types an account's locations can have.
const (
	LocationDC    = "dc"
	LocationStore = "store"
)

// idPattern is the shape of account and warehouse ids (CONTRACT.md section 4).
var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// ValidID reports whether id has the shape of an account or warehouse id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ReservedAccount is the id no account may take: warehouses publish under xd.in.wh.
const ReservedAccount = "wh"

// Location is one of an account's sites, identified by its GLN.
type Location struct {
	GLN       string `yaml:"gln" json:"gln"`
	Type      string `yaml:"type" json:"type"`           // dc | store
	Warehouse string `yaml:"warehouse" json:"warehouse"` // the warehouse that serves it
}

// Webhook is where the delivery service pushes an account's or warehouse's events.
type Webhook struct {
	URL    string `yaml:"url" json:"url"`
	Secret string `yaml:"secret" json:"secret"`
}

// Account is a customer as the accounts file and the live registry know it.
type Account struct {
	ID        string         `yaml:"id" json:"id"`
	Name      string         `yaml:"name" json:"name"`
	Tier      Tier           `yaml:"tier" json:"tier"`
	APIKeys   []string       `yaml:"api_keys" json:"api_keys"` // "sha256:<hex>" digests, never keys
	Locations []Location     `yaml:"locations" json:"locations"`
	Overrides map[string]any `yaml:"policy" json:"policy,omitempty"` // keys as in the tier file
	Webhook   *Webhook       `yaml:"webhook" json:"webhook,omitempty"`
	Readers   []Reader       `yaml:"readers" json:"readers,omitempty"` // RFID readers (optional; see reader.go)
	EDI       *EDI           `yaml:"edi" json:"edi,omitempty"`         // answers in a partner format (optional)
	VMI       *VMIAgreement  `yaml:"vmi" json:"vmi,omitempty"`         // vendor-managed inventory agreement
	// Experiments are the account's showcase experiments; they run only
	// while its policy says experiments: allowed.
	Experiments []Experiment `yaml:"experiments" json:"experiments,omitempty"`
	// Users are the people who sign in to the portal for the account.
	Users []User `yaml:"users" json:"users,omitempty"`
}

// EDI asks for the account's answers also as documents of a partner format:
// for X12, an 855 for each order.accepted or order.rejected and an 856 for
// each shipment.dispatched, published as crossdock.edi.document.v1.
type EDI struct {
	Format string `yaml:"format" json:"format"` // an adapter that encodes, e.g. x12
	// InterchangeID and Qualifier address the account's envelopes (X12
	// ISA08/ISA07); empty means the upper-cased account id, qualifier ZZ.
	InterchangeID string `yaml:"interchange_id" json:"interchange_id,omitempty"`
	Qualifier     string `yaml:"qualifier" json:"qualifier,omitempty"`
}

// VMIAgreement is what an account agreed for vendor-managed inventory beyond
// its tier's policy: per-item limits and pack sizes, keyed by GTIN.
type VMIAgreement struct {
	Items map[string]VMIItem `yaml:"items" json:"items,omitempty"`
}

// VMIItem overrides the computed replenishment of one item: Min replaces the
// reorder point, Max the order-up-to level (both in units), CasePack and
// LeadDays the policy's vmi_case_pack and vmi_lead_days. Unset (nil or zero)
// keeps the policy's.
type VMIItem struct {
	Min      *int64  `yaml:"min" json:"min,omitempty"`
	Max      *int64  `yaml:"max" json:"max,omitempty"`
	CasePack int64   `yaml:"case_pack" json:"case_pack,omitempty"`
	LeadDays float64 `yaml:"lead_days" json:"lead_days,omitempty"`
}

// Experiment mirrors a share of an account's events, chosen by event id, to
// xd.exp.<account>.<name>.<event name>, so that a team can try a new
// integration on real traffic without touching the account's processing.
type Experiment struct {
	Name  string   `yaml:"name" json:"name"`   // [a-z0-9-]{1,32}
	Types []string `yaml:"types" json:"types"` // event names (order.accepted) or types; "*" for all
	Share float64  `yaml:"share" json:"share"` // 0 < share <= 1
}

// Location returns the account's location with this GLN.
func (a *Account) Location(gln string) (Location, bool) {
	i := slices.IndexFunc(a.Locations, func(l Location) bool { return l.GLN == gln })
	if i < 0 {
		return Location{}, false
	}
	return a.Locations[i], true
}

// Warehouse is a warehouse system that receives fulfilment and replenishment work.
type Warehouse struct {
	ID      string   `yaml:"id" json:"id"`
	APIKeys []string `yaml:"api_keys" json:"api_keys"`
	Webhook *Webhook `yaml:"webhook" json:"webhook,omitempty"`
	// Users are the people who sign in to the portal for the warehouse
	// (warehouses without a system of their own report shipments there).
	Users []User `yaml:"users" json:"users,omitempty"`
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
