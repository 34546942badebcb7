package accounts

import (
	"bytes"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Holder names the account or the warehouse a portal user is listed under
// (exactly one of the two is set).
type Holder struct {
	Account   string
	Warehouse string
}

func (h Holder) String() string {
	if h.Warehouse != "" {
		return fmt.Sprintf("warehouse %q", h.Warehouse)
	}
	return fmt.Sprintf("account %q", h.Account)
}

// ErrUserExists is returned by AddUser for an email that already signs in
// somewhere in the file.
var ErrUserExists = errors.New("user exists")

// AddUser returns the accounts file content with u appended to the users of
// the holder, as `crossdock user add` writes it. It edits the YAML node tree
// rather than re-marshalling the structs, so the file keeps its comments,
// key order and flow-style lists (yaml.v3 does not keep blank lines or the
// spacing before a line comment). The result is checked as a whole, as the
// hub would load it, before it is returned: a file AddUser writes always
// loads.
func AddUser(content []byte, tiers TierSet, h Holder, u User) ([]byte, error) {
	if (h.Account == "") == (h.Warehouse == "") {
		return nil, errors.New("add user: name an account or a warehouse")
	}
	f, err := ParseFile(content, tiers)
	if err != nil {
		return nil, err
	}
	email := NormalizeEmail(u.Email)
	for _, w := range f.Warehouses {
		for _, x := range w.Users {
			if NormalizeEmail(x.Email) == email {
				return nil, fmt.Errorf("add user %s: %w: a user of warehouse %q", u.Email, ErrUserExists, w.ID)
			}
		}
	}
	for _, a := range f.Accounts {
		for _, x := range a.Users {
			if NormalizeEmail(x.Email) == email {
				return nil, fmt.Errorf("add user %s: %w: a user of account %q", u.Email, ErrUserExists, a.ID)
			}
		}
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	listKey, id := "accounts", h.Account
	if h.Warehouse != "" {
		listKey, id = "warehouses", h.Warehouse
	}
	list := resolve(mappingValue(doc.Content[0], listKey))
	var item *yaml.Node
	if list != nil && list.Kind == yaml.SequenceNode {
		for _, n := range list.Content {
			if n = resolve(n); scalarAt(n, "id") == id {
				item = n
				break
			}
		}
	}
	if item == nil || item.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("add user: no %s in the file", h)
	}
	users := resolve(mappingValue(item, "users"))
	switch {
	case users == nil:
		users = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		item.Content = append(item.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "users"}, users)
	case users.Kind == yaml.ScalarNode && users.ShortTag() == "!!null":
		*users = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: users.Line, Column: users.Column}
	case users.Kind != yaml.SequenceNode:
		return nil, fmt.Errorf("add user: %s: users is not a list", h)
	}
	str := func(v string, style yaml.Style) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Style: style}
	}
	users.Content = append(users.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle, Content: []*yaml.Node{
		str("email", 0), str(u.Email, 0),
		str("password", 0), str(u.Password, yaml.DoubleQuotedStyle),
		str("role", 0), str(string(u.Role), 0),
	}})

	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("add user: write: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("add user: write: %w", err)
	}
	if _, err := ParseFile(out.Bytes(), tiers); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mappingValue returns the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
