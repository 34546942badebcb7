package accounts

import (
	"crypto/sha256"
	"crypto/subtle"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/crossdock/crossdock/bus"
)

// Authenticator is the embedded NATS server's authenticator (set it as
// bus.ServerConfig.Auth), so that customers and warehouses can use NATS
// directly with the same API keys as HTTP, confined to their own subjects.
//
// A client whose connect token is the hub's token is one of the hub's own
// connections, and one whose token is the operator's admin token is the
// operator (to watch xd.> or inspect the streams): both get every
// permission; an empty token admits no client that way. Any other client
// presents an API key as its password (any user
// name) or as its token:
//
//   - an account <id> may publish on xd.in.<id>.> and xd.raw.<id>.> (where
//     the gateway's intake relay takes its messages; never on xd.intake.>,
//     where the streams listen) and subscribe to
//     xd.out.<id>.> and _INBOX_<id>.>; it may not answer the reply subjects
//     of messages it receives (those are the hub's JetStream publish acks,
//     which a customer must never be able to forge);
//   - a warehouse <id> may publish on xd.in.wh.<id>.> and subscribe to
//     xd.wh.<id>.> and _INBOX_wh_<id>.>.
//
// Clients therefore set their inbox prefix, nats.CustomInboxPrefix("_INBOX_acme")
// (or "_INBOX_wh_dc-east"): request-reply and JetStream publish acks arrive
// on inboxes, and the default _INBOX. prefix is not theirs. The JetStream API
// is not granted: clients publish with core NATS or JetStream publish and
// read with core subscriptions.
//
// Keys are looked up in the registry's current snapshot at each connect, so
// the authenticator always reflects the latest accounts file; it admits no
// key until it is given a registry (Use), so that the server can start
// before the registry, which lives in the server's JetStream. A connection
// already open keeps the permissions it got.
type Authenticator struct {
	reg      atomic.Pointer[Registry]
	hub      [32]byte // SHA-256 of the hub's token
	operator [32]byte // SHA-256 of the operator's admin token
	hasHub   bool
	hasOp    bool
}

// NewAuthenticator returns the authenticator of the hub's and the
// operator's tokens ("" for none).
func NewAuthenticator(hubToken, operatorToken string) *Authenticator {
	return &Authenticator{hub: sha256.Sum256([]byte(hubToken)), hasHub: hubToken != "",
		operator: sha256.Sum256([]byte(operatorToken)), hasOp: operatorToken != ""}
}

// Use makes the authenticator admit the API keys of r.
func (a *Authenticator) Use(r *Registry) { a.reg.Store(r) }

// Check implements server.Authentication.
func (a *Authenticator) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o.Token != "" && (a.hasHub || a.hasOp) {
		t := sha256.Sum256([]byte(o.Token))
		if a.hasOp && subtle.ConstantTimeCompare(t[:], a.operator[:]) == 1 {
			c.RegisterUser(&server.User{Username: "operator"})
			return true
		}
		if a.hasHub && subtle.ConstantTimeCompare(t[:], a.hub[:]) == 1 {
			c.RegisterUser(&server.User{Username: "crossdock"})
			return true
		}
	}
	r := a.reg.Load()
	if r == nil {
		return false
	}
	key := o.Password
	if key == "" {
		key = o.Token
	}
	id, ok := r.Authenticate(key)
	if !ok {
		return false
	}
	c.RegisterUser(natsUser(id))
	return true
}

// WarehouseConsumer is the name of the one durable JetStream consumer a
// warehouse may create, read and ack on XD_OUT, filtered to its own subjects
// (xd.wh.<warehouse>.>): it receives the work sent while it was offline.
func WarehouseConsumer(warehouse string) string { return "wh-" + warehouse }

// warehouseConsumer is the JetStream API a warehouse needs for its durable
// consumer and nothing more: create it with a filter inside xd.wh.<id>.
// (the server checks that the filter in the subject is the config's), read
// its info, pull and ack. Other consumers and streams stay out of reach.
func warehouseConsumer(warehouse string) []string {
	name := WarehouseConsumer(warehouse)
	return []string{
		"$JS.API.CONSUMER.CREATE.XD_OUT." + name + ".xd.wh." + warehouse + ".>",
		"$JS.API.CONSUMER.INFO.XD_OUT." + name,
		"$JS.API.CONSUMER.MSG.NEXT.XD_OUT." + name,
		"$JS.ACK.XD_OUT." + name + ".>",
	}
}

// hubOnly are the subjects no customer or warehouse may publish on, whatever
// else it is allowed: the intake subjects the streams listen on (only the
// gateway's relay stores there, under the key it decides), the lanes and
// the DLQ. The allow lists already leave them out; the deny list keeps it so
// if an allow list ever grows a wildcard.
var hubOnly = []string{bus.IntakePrefix + ">", bus.AllRouted, bus.AllDLQ}

// Grant is what an identity may do on NATS: the subjects it may publish and
// subscribe to, everything else denied (and no answering of reply subjects
// it was not granted). It is the one source of the customers' and
// warehouses' NATS permissions: the embedded server's authenticator and the
// cluster's auth callout (Callout) both apply it.
type Grant struct {
	User        string // the NATS user name the identity connects as
	Publish     []string
	DenyPublish []string // denied even if an allowed wildcard covers them
	Subscribe   []string
}

// GrantOf returns what identity id may do on NATS.
func GrantOf(id Identity) Grant {
	from := bus.Sender{Account: id.Account, Warehouse: id.Warehouse}
	if id.Warehouse != "" {
		return Grant{
			User:        "wh." + id.Warehouse, // dots never occur in ids: no clash with an account
			Publish:     append([]string{bus.InSubject(from, ">"), bus.RawSubject(from, ">")}, warehouseConsumer(id.Warehouse)...),
			DenyPublish: hubOnly,
			Subscribe:   []string{from.Subject(">"), "_INBOX_wh_" + id.Warehouse + ".>"},
		}
	}
	return Grant{
		User:        id.Account,
		Publish:     []string{bus.InSubject(from, ">"), bus.RawSubject(from, ">")},
		DenyPublish: hubOnly,
		Subscribe:   []string{from.Subject(">"), "_INBOX_" + id.Account + ".>"},
	}
}

// natsUser is the embedded server's user an identity connects as.
func natsUser(id Identity) *server.User {
	g := GrantOf(id)
	return &server.User{
		Username: g.User,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: g.Publish, Deny: g.DenyPublish},
			Subscribe: &server.SubjectPermission{Allow: g.Subscribe},
		},
	}
}

// equalSecret compares two secrets in constant time, lengths included: both
// are hashed first, so a mismatch reveals neither content nor length.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
