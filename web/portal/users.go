package portal

import "github.com/crossdock/crossdock/web"

// signInUser checks a portal user's email and password against the
// accounts file (accounts.Registry.SignIn: Argon2id or bcrypt, constant
// time, an unknown email costs the same).
func (p *Portal) signInUser(email, password string) (web.Principal, bool) {
	u, ok := p.cfg.Registry.SignIn(email, password)
	if !ok {
		return web.Principal{}, false
	}
	return web.Principal{Kind: web.KindUser, Account: u.Account, Warehouse: u.Warehouse, Email: u.Email,
		Role: string(u.Role), Credential: u.Stamp}, true
}

// validUser reports whether a signed-in user is still in the accounts file
// unchanged: removed, or with another password, role or holder, its
// sessions end.
func (p *Portal) validUser(pr web.Principal) bool {
	u, ok := p.cfg.Registry.User(pr.Email)
	return ok && u.Stamp == pr.Credential
}
