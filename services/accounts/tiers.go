package accounts

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// builtinTiers is the tier file compiled into the binary. It must stay
// byte-identical to deploy/tiers.yaml, the copy operators read and edit.
//
//go:embed tiers.yaml
var builtinTiers []byte

// TierSet is the content of a tier file: the policy each tier's accounts get.
// A valid set names all four tiers.
type TierSet map[Tier]Policy

var defaultTiers = sync.OnceValue(func() TierSet {
	ts, err := parseTiers(builtinTiers)
	if err != nil {
		panic("accounts: built-in tiers.yaml: " + err.Error())
	}
	return ts
})

// DefaultTiers returns the built-in tier policies (CONTRACT.md section 4), used
// when no --tiers file is given. Each call returns a fresh copy that the caller
// may change.
func DefaultTiers() TierSet { return defaultTiers().Clone() }

// LoadTiers reads and checks a tier file, so that a bad --tiers file stops the
// process at start with one line naming the tier and key.
func LoadTiers(path string) (TierSet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tier file: %w", err)
	}
	ts, err := parseTiers(b)
	if err != nil {
		return nil, fmt.Errorf("tier file %s: %w", path, err)
	}
	return ts, nil
}

// ParseTiers checks a tier file's content: every tier is present, every key
// is known and every policy validates.
func ParseTiers(b []byte) (TierSet, error) {
	ts, err := parseTiers(b)
	if err != nil {
		return nil, fmt.Errorf("tier file: %w", err)
	}
	return ts, nil
}

func parseTiers(b []byte) (TierSet, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(err, true)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty; want tiers: with %s", tierList())
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with the key tiers", root.Line)
	}
	var tiers *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "tiers" {
			return nil, fmt.Errorf("%s: unknown key; want tiers", k.Value)
		}
		tiers = resolve(root.Content[i+1])
	}
	if tiers == nil || tiers.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("tiers: want a mapping of %s to their policies", tierList())
	}
	ts := TierSet{}
	for i := 0; i+1 < len(tiers.Content); i += 2 {
		t, n := Tier(tiers.Content[i].Value), resolve(tiers.Content[i+1])
		if !t.Valid() {
			return nil, fmt.Errorf("tier %q: unknown tier; want %s", t, tierList())
		}
		if _, dup := ts[t]; dup {
			return nil, fmt.Errorf("tier %q: named twice", t)
		}
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("tier %q: want a mapping of policy keys", t)
		}
		var p Policy
		for j := 0; j+1 < len(n.Content); j += 2 {
			if err := decodePolicyKey(n.Content[j].Value, n.Content[j+1], &p); err != nil {
				return nil, fmt.Errorf("tier %q: %w", t, err)
			}
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("tier %q: %w", t, err)
		}
		ts[t] = p
	}
	for _, t := range Tiers {
		if _, ok := ts[t]; !ok {
			return nil, fmt.Errorf("tier %q: missing; a tier file names all of %s", t, tierList())
		}
	}
	return ts, nil
}

// TiersIn returns the tiers whose accounts are processed in lane l, in the
// order of Tiers. Consuming services build one durable consumer per lane and
// filter it on these tiers' routed subjects, so that lanes follow the tier file.
func (ts TierSet) TiersIn(l Lane) []Tier {
	var out []Tier
	for _, t := range Tiers {
		if p, ok := ts[t]; ok && p.Lane == l {
			out = append(out, t)
		}
	}
	return out
}

// Clone returns a deep copy of ts, so that a caller's changes never reach a
// registry's or the built-in policies.
func (ts TierSet) Clone() TierSet {
	out := make(TierSet, len(ts))
	for t, p := range ts {
		out[t] = p.clone()
	}
	return out
}

func (p Policy) clone() Policy {
	p.MinOrderUnits = slices.Clone(p.MinOrderUnits)
	p.OrderDays = slices.Clone(p.OrderDays)
	p.ShipTo = slices.Clone(p.ShipTo)
	return p
}

// Effective returns the policy account a gets: its tier's policy with the
// account's overrides (the accounts file's policy: keys) applied on top.
// Lists replace the tier's list, scalars override it; an unknown key, an
// override of lane (lanes follow tiers) or a result that does not validate is
// an error naming the key.
func Effective(tiers TierSet, a *Account) (Policy, error) {
	base, ok := tiers[a.Tier]
	if !ok {
		return Policy{}, fmt.Errorf("tier %q: want one of %s", a.Tier, tierList())
	}
	p := base.clone()
	if len(a.Overrides) == 0 {
		return p, nil
	}
	for _, k := range slices.Sorted(maps.Keys(a.Overrides)) {
		if k == "lane" {
			return Policy{}, fmt.Errorf("policy.lane: cannot be overridden, lanes follow tiers (change the account's tier instead)")
		}
		var n yaml.Node
		if err := n.Encode(a.Overrides[k]); err != nil {
			return Policy{}, fmt.Errorf("policy.%s: %w", k, err)
		}
		if err := decodePolicyKey(k, &n, &p); err != nil {
			return Policy{}, fmt.Errorf("policy.%w", err)
		}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("policy.%w", err)
	}
	return p, nil
}

// policyFields maps each tier-file key to the Policy field it sets.
var policyFields = yamlFields(reflect.TypeFor[Policy]())

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = f
		}
	}
	return out
}

// decodePolicyKey sets one policy key from its YAML value, with unknown keys
// (also inside min_order_units steps) rejected by the decoder's KnownFields.
// A bare true or false given to a string key such as rfid is read as "on" or
// "off": YAML 1.1 tools write on/off as booleans.
func decodePolicyKey(key string, v *yaml.Node, p *Policy) error {
	f, ok := policyFields[key]
	if !ok {
		return fmt.Errorf("%s: unknown key; want one of %s", key, strings.Join(slices.Sorted(maps.Keys(policyFields)), ", "))
	}
	v = resolve(v)
	if f.Type.Kind() == reflect.String && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		on, _ := strconv.ParseBool(strings.ToLower(v.Value))
		word := "off"
		if on {
			word = "on"
		}
		v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: word}
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, v}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		msg := yamlError(err, false).Error()
		if strings.HasPrefix(msg, key) {
			return fmt.Errorf("%s", msg)
		}
		return fmt.Errorf("%s: %s", key, msg)
	}
	return nil
}

// resolve follows a YAML alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

var yamlLine = regexp.MustCompile(`^line \d+: `)

// yamlError makes a yaml.v3 error one line. Without lines, line numbers are
// dropped: in errors of re-encoded fragments they would point nowhere.
func yamlError(err error, lines bool) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		parts := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			parts[i] = e
			if !lines {
				parts[i] = yamlLine.ReplaceAllString(e, "")
			}
		}
		msg = strings.Join(parts, "; ")
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return fmt.Errorf("%s", strings.Join(strings.Fields(msg), " "))
}

func tierList() string {
	names := make([]string, len(Tiers))
	for i, t := range Tiers {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
