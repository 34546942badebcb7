package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crossdock/crossdock/gs1"
)

// File is the content of an accounts file (CONTRACT.md section 4): who may
// send events, with which keys, to which locations, and under which tier.
// It is the operator's source of truth; the registry mirrors it into a KV
// bucket on start and on every reload.
type File struct {
	Warehouses []Warehouse `yaml:"warehouses" json:"warehouses"`
	Accounts   []Account   `yaml:"accounts" json:"accounts"`
}

// LoadFile reads and checks an accounts file against the tier policies. Every
// error is one line that names the file, the account or warehouse and the key,
// so that a bad file stops the process (or a reload) with a reason an operator
// can act on.
func LoadFile(path string, tiers TierSet) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	f, err := parseFile(b, tiers)
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	return f, nil
}

// ParseFile checks an accounts file's content against the tier policies, as
// LoadFile does.
func ParseFile(b []byte, tiers TierSet) (*File, error) {
	f, err := parseFile(b, tiers)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	return f, nil
}

// HashKey returns the form in which an API key is stored and compared,
// "sha256:<lower-case hex>": the accounts file and the registry never hold a
// key itself.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func parseFile(b []byte, tiers TierSet) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(err, true)
	}
	// An empty file is refused rather than read as "no accounts": a reload
	// of a truncated file would otherwise delete every account.
	if len(doc.Content) == 0 {
		return nil, errors.New("empty: want the keys warehouses and accounts")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with the keys warehouses and accounts", root.Line)
	}
	f := &File{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		var err error
		switch k.Value {
		case "warehouses":
			err = decodeList(v, "warehouse", "warehouses", &f.Warehouses)
		case "accounts":
			err = decodeList(v, "account", "accounts", &f.Accounts)
		default:
			err = fmt.Errorf("%s: unknown key; want warehouses or accounts", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := f.validate(tiers); err != nil {
		return nil, err
	}
	return f, nil
}

// decodeList decodes a sequence of warehouses or accounts one item at a
// time, so that an unknown key or a wrong type names the item's id.
func decodeList[T any](n *yaml.Node, kind, key string, out *[]T) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: line %d: want a list", key, n.Line)
	}
	for i, item := range n.Content {
		item = resolve(item)
		label := fmt.Sprintf("%s[%d]", key, i)
		if id := scalarAt(item, "id"); id != "" {
			label = fmt.Sprintf("%s %q", kind, id)
		}
		if err := checkKeys(item, reflect.TypeFor[T](), ""); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		var v T
		if err := item.Decode(&v); err != nil {
			return fmt.Errorf("%s: %w", label, yamlError(err, true))
		}
		*out = append(*out, v)
	}
	return nil
}

// scalarAt returns the scalar value of key in mapping n, or "".
func scalarAt(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// checkKeys reports the first mapping key in n that the struct type t (and
// the structs it holds) does not know, with its path, e.g.
// locations[1].glm. Free-form maps such as policy are checked elsewhere.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	n = resolve(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		if path != "" && !strings.HasSuffix(path, ".") {
			path += "."
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := path + n.Content[i].Value
			f, ok := fields[n.Content[i].Value]
			if !ok {
				return fmt.Errorf("%s: unknown key", key)
			}
			if err := checkKeys(n.Content[i+1], f.Type, key); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if err := checkKeys(item, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// validate checks the rules of CONTRACT.md section 4 and the ones the
// services rely on: unique ids, keys and GLNs, known warehouses, valid
// policies. It stops at the first problem.
func (f *File) validate(tiers TierSet) error {
	digests := map[string]string{} // digest → who uses it
	useKeys := func(who string, keys []string) error {
		for i, k := range keys {
			// The value is never echoed: a raw key pasted here by mistake
			// must not end up in a log.
			if !digestPattern.MatchString(k) {
				return fmt.Errorf("%s: api_keys[%d]: want \"sha256:\" and 64 lower-case hex digits (the SHA-256 of the key, never the key)", who, i)
			}
			if other, dup := digests[k]; dup {
				return fmt.Errorf("%s: api_keys[%d]: digest already used by %s", who, i, other)
			}
			digests[k] = who
		}
		return nil
	}

	emails := map[string]string{} // normalised email → who lists it
	warehouses := map[string]bool{}
	for i := range f.Warehouses {
		w := &f.Warehouses[i]
		who := fmt.Sprintf("warehouse %q", w.ID)
		if !ValidID(w.ID) {
			return fmt.Errorf("warehouses[%d]: id %q: want 1 to 32 of a-z, 0-9 and -", i, w.ID)
		}
		if warehouses[w.ID] {
			return fmt.Errorf("%s: id: named twice", who)
		}
		warehouses[w.ID] = true
		if err := useKeys(who, w.APIKeys); err != nil {
			return err
		}
		if err := checkWebhook(w.Webhook); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if err := checkUsers(who, w.Users, emails); err != nil {
			return err
		}
	}

	ids := map[string]bool{}
	glns := map[string]string{} // GLN → account
	for i := range f.Accounts {
		a := &f.Accounts[i]
		who := fmt.Sprintf("account %q", a.ID)
		switch {
		case !ValidID(a.ID):
			return fmt.Errorf("accounts[%d]: id %q: want 1 to 32 of a-z, 0-9 and -", i, a.ID)
		case a.ID == ReservedAccount:
			return fmt.Errorf("%s: id: reserved (warehouses publish under xd.in.wh.)", who)
		case ids[a.ID]:
			return fmt.Errorf("%s: id: named twice", who)
		}
		ids[a.ID] = true
		if _, ok := tiers[a.Tier]; !ok {
			return fmt.Errorf("%s: tier %q: want one of %s", who, a.Tier, tierList())
		}
		if err := useKeys(who, a.APIKeys); err != nil {
			return err
		}
		for j, l := range a.Locations {
			at := fmt.Sprintf("%s: locations[%d]", who, j)
			if err := gs1.CheckGLN(l.GLN); err != nil {
				return fmt.Errorf("%s.gln %q: %w", at, l.GLN, err)
			}
			if other, dup := glns[l.GLN]; dup {
				return fmt.Errorf("%s.gln %q: already a location of account %q", at, l.GLN, other)
			}
			glns[l.GLN] = a.ID
			if l.Type != LocationDC && l.Type != LocationStore {
				return fmt.Errorf("%s.type %q: want dc or store", at, l.Type)
			}
			if !warehouses[l.Warehouse] {
				return fmt.Errorf("%s.warehouse %q: no such warehouse in the file", at, l.Warehouse)
			}
		}
		if err := checkReaders(a); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if a.EDI != nil && !formatPattern.MatchString(a.EDI.Format) {
			return fmt.Errorf("%s: edi.format %q: want an adapter's format name, such as x12", who, a.EDI.Format)
		}
		if err := checkWebhook(a.Webhook); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if err := checkVMI(a.VMI); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if err := checkExperiments(a.Experiments); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		if err := checkUsers(who, a.Users, emails); err != nil {
			return err
		}
		if _, err := Effective(tiers, a); err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		// The registry stores accounts as JSON; overrides such as .nan or
		// non-string map keys would not survive it.
		if _, err := json.Marshal(a); err != nil {
			return fmt.Errorf("%s: policy: cannot be stored as JSON: %w", who, err)
		}
	}
	return nil
}

// checkWebhook reports what is wrong with an optional webhook; the secret is
// never part of the message.
func checkWebhook(w *Webhook) error {
	if w == nil {
		return nil
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook.url %q: want an http or https URL", w.URL)
	}
	return nil
}

// checkVMI checks a VMI agreement: items are keyed by valid GTINs, named
// once (as GTIN-14), with limits that make sense.
func checkVMI(v *VMIAgreement) error {
	if v == nil {
		return nil
	}
	seen := map[string]string{}
	for _, g := range slices.Sorted(maps.Keys(v.Items)) {
		it := v.Items[g]
		at := "vmi.items." + g
		if err := gs1.CheckGTIN(g); err != nil {
			return fmt.Errorf("%s: not a GTIN: %w", at, err)
		}
		if other, dup := seen[gs1.GTIN14(g)]; dup {
			return fmt.Errorf("%s: the same item as %s", at, other)
		}
		seen[gs1.GTIN14(g)] = g
		switch {
		case it.Min != nil && *it.Min < 0:
			return fmt.Errorf("%s.min %d: want 0 or more units", at, *it.Min)
		case it.Max != nil && *it.Max < 1:
			return fmt.Errorf("%s.max %d: want 1 or more units", at, *it.Max)
		case it.Min != nil && it.Max != nil && *it.Min > *it.Max:
			return fmt.Errorf("%s: min %d is above max %d", at, *it.Min, *it.Max)
		case it.CasePack < 0:
			return fmt.Errorf("%s.case_pack %d: want 1 or more units", at, it.CasePack)
		case it.LeadDays < 0 || it.LeadDays > 365:
			return fmt.Errorf("%s.lead_days %v: want more than 0 and at most 365 days", at, it.LeadDays)
		}
	}
	return nil
}

// formatPattern is the shape of an adapter's format name.
var formatPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
