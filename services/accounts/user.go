package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"sync"
)

// Role is what a portal user may do.
type Role string

// Roles of portal users (CONTRACT.md section 4).
const (
	// RoleBuyer orders and tracks (for a warehouse: reports shipments).
	RoleBuyer Role = "buyer"
	// RoleViewer only tracks.
	RoleViewer Role = "viewer"
)

// Roles lists the roles in the order the file's messages name them.
var Roles = []Role{RoleBuyer, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a person who signs in to the portal for the account or warehouse
// it is listed under in the accounts file.
type User struct {
	Email string `yaml:"email" json:"email"`
	// Password is "argon2id:<PHC string>" or "bcrypt:<hash>", never a
	// password (crossdock user add writes one).
	Password string `yaml:"password" json:"password"`
	Role     Role   `yaml:"role" json:"role"`
}

// maxEmailLen is the longest address RFC 5321 lets through (section 4.5.3.1.3).
const maxEmailLen = 254

// NormalizeEmail is the form in which emails are compared: trimmed and
// lower-cased, so that Buyer@ACME.example and buyer@acme.example are one
// user.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CheckEmail reports whether email is a bare address (no display name,
// no angle brackets) of at most 254 characters.
func CheckEmail(email string) error {
	if len(email) > maxEmailLen {
		return fmt.Errorf("longer than %d characters", maxEmailLen)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email, "@") {
		return fmt.Errorf("want a bare address such as buyer@acme.example")
	}
	return nil
}

// checkUsers checks one holder's users; seen maps each normalised email of
// the file to who lists it, so that an email is one user in the whole file.
func checkUsers(who string, users []User, seen map[string]string) error {
	for i, u := range users {
		at := fmt.Sprintf("%s: users[%d]", who, i)
		if err := CheckEmail(u.Email); err != nil {
			return fmt.Errorf("%s.email %q: %w", at, u.Email, err)
		}
		email := NormalizeEmail(u.Email)
		if other, dup := seen[email]; dup {
			return fmt.Errorf("%s.email %q: already a user of %s (an email signs in to one account or warehouse)", at, u.Email, other)
		}
		seen[email] = who
		if !u.Role.Valid() {
			return fmt.Errorf("%s.role %q: want buyer or viewer", at, u.Role)
		}
		if err := CheckPasswordHash(u.Password); err != nil {
			return fmt.Errorf("%s.password: %w", at, err)
		}
	}
	return nil
}

// Principal is a portal user as the registry knows it now: who it is, what
// it may do and for whom (exactly one of Account and Warehouse is set).
//
// Stamp changes whenever the user's entry changes (password, role, the
// account or warehouse it is listed under): a session store keeps the Stamp
// of the sign-in and ends the session when Registry.User no longer returns
// the user or returns another Stamp, so that removing a user from the file,
// or changing its password, ends its sessions at the next request after the
// reload.
type Principal struct {
	Email     string
	Role      Role
	Account   string
	Warehouse string
	Stamp     string
}

// userEntry is a user of the current snapshot, with its hash parsed.
type userEntry struct {
	Principal
	hash *passwordHash
}

// indexUsers maps the normalised email of every user of the snapshot to its
// entry. A user whose hash does not parse (possible only if the bucket was
// written around the file's checks) or whose email is listed twice signs in
// nowhere.
func indexUsers(s *snapshot) map[string]*userEntry {
	users := map[string]*userEntry{}
	clash := map[string]bool{}
	add := func(list []User, account, warehouse string) {
		for _, u := range list {
			email := NormalizeEmail(u.Email)
			h, err := parsePasswordHash(u.Password)
			if err != nil || !u.Role.Valid() {
				clash[email] = true
				continue
			}
			if _, dup := users[email]; dup {
				clash[email] = true
				continue
			}
			sum := sha256.Sum256([]byte(account + "\x00" + warehouse + "\x00" + string(u.Role) + "\x00" + u.Password))
			users[email] = &userEntry{
				Principal: Principal{Email: email, Role: u.Role, Account: account, Warehouse: warehouse, Stamp: hex.EncodeToString(sum[:12])},
				hash:      h,
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
		add(s.accounts[id].Account.Users, id, "")
	}
	for _, id := range slices.Sorted(maps.Keys(s.warehouses)) {
		add(s.warehouses[id].Users, "", id)
	}
	for e := range clash {
		delete(users, e)
	}
	return users
}

// decoy is verified against when no user has the email, so that a sign-in
// for an unknown email costs as long as one for a known email: the answer's
// time does not tell which emails are users.
var decoy = sync.OnceValue(func() *passwordHash {
	s, _ := HashPassword("decoy password, never matched")
	h, _ := parsePasswordHash(s)
	return h
})

// SignIn checks a portal user's email and password against the current
// accounts. The password is verified against the stored Argon2id or bcrypt
// hash in constant time, and an unknown email costs a verification too.
// Throttling failed attempts is the caller's job (per user and per address).
func (r *Registry) SignIn(email, password string) (Principal, bool) {
	u, ok := r.snap.Load().users[NormalizeEmail(email)]
	if !ok {
		decoy().verify(password)
		return Principal{}, false
	}
	if !u.hash.verify(password) {
		return Principal{}, false
	}
	return u.Principal, true
}

// User returns the portal user with this email as the current accounts
// have it, for a session store to check on every request: not found means
// the user was removed (end the session); a Stamp other than the session's
// means its password, role or holder changed (end it too).
func (r *Registry) User(email string) (Principal, bool) {
	u, ok := r.snap.Load().users[NormalizeEmail(email)]
	if !ok {
		return Principal{}, false
	}
	return u.Principal, true
}
