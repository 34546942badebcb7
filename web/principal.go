package web

import "strings"

// Kind is how a principal proved who it is.
type Kind string

// The ways to sign in.
const (
	// KindUser is a person listed under an account or a warehouse in the
	// accounts file, signed in with an email and a password.
	KindUser Kind = "user"
	// KindAPIKey is an integration engineer signed in with the account's
	// or warehouse's API key.
	KindAPIKey Kind = "api_key"
	// KindOperator is the hub's operator, signed in with the admin token.
	KindOperator Kind = "operator"
)

// Roles a principal can have. A page checks the role, never the kind, so
// that a new way to sign in needs no page to change.
const (
	RoleBuyer    = "buyer"    // orders and tracks for its account
	RoleViewer   = "viewer"   // tracks only
	RoleOperator = "operator" // runs the hub (the console)
)

// Principal is who a session acts for: exactly one of Account, Warehouse or
// operator, as the HTTP API scopes a request by its key. It carries no
// secret: Credential is a digest that lets the application check, on every
// request, that the key or user still exists in the accounts file.
type Principal struct {
	Kind      Kind   `json:"kind"`
	Account   string `json:"account,omitempty"`   // the account it acts for
	Warehouse string `json:"warehouse,omitempty"` // or the warehouse
	Email     string `json:"email,omitempty"`     // the user, for KindUser
	Role      string `json:"role"`
	// Credential names what it signed in with, for revalidation: a
	// "sha256:<hex>" digest of the API key or token; empty for users, who
	// are revalidated by Email.
	Credential string `json:"-"`
}

// Name is how pages show the principal: the user's email, or what the key
// belongs to.
func (p Principal) Name() string {
	switch {
	case p.Email != "":
		return p.Email
	case p.Kind == KindOperator:
		return "operator"
	case p.Warehouse != "":
		return "warehouse " + p.Warehouse + " (API key)"
	case p.Account != "":
		return "account " + p.Account + " (API key)"
	}
	return "nobody"
}

// Is reports whether the principal has one of the roles.
func (p Principal) Is(roles ...string) bool {
	for _, r := range roles {
		if strings.EqualFold(p.Role, r) {
			return true
		}
	}
	return false
}
