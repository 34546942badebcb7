package accounts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"
)

// CalloutSubject is where a NATS server configured with auth_callout asks
// who a connecting client is (nats-server 2.10+, ADR-26).
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// calloutXKeyHeader carries the server's public curve key when it encrypts
// its requests (auth_callout { xkey }); the answer is sealed to it.
const calloutXKeyHeader = "Nats-Server-Xkey"

// CalloutConfig configures the cluster's authorization service.
type CalloutConfig struct {
	// Issuer is the account key pair whose public key the servers name as
	// auth_callout { issuer }: it signs every answer and user.
	Issuer nkeys.KeyPair
	// Account is the NATS account clients are placed in: the one where the
	// hub's streams live (the servers' auth_callout { account }).
	Account string
	// AdminToken, when set, admits the operator (with every permission in
	// Account), as on the embedded server.
	AdminToken string
	// XKey, when set, is the curve key pair whose public key the servers
	// name as auth_callout { xkey }: requests arrive encrypted to it, and
	// answers leave encrypted.
	XKey nkeys.KeyPair
	// TTL is how long an authorization lasts: the server disconnects the
	// client when it expires and the client's reconnect asks again, so that
	// a key removed from the accounts file stops working within TTL. Zero
	// means 15 minutes.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Callout is the hub as a NATS cluster's auth callout service: each time a
// client connects to any node, the node asks the hub, which looks the API
// key up in the registry's current snapshot (so a reloaded accounts file
// applies to the next connection, with no restart of nats-server) and
// answers with a user JWT carrying exactly the permissions the embedded
// server grants (GrantOf).
type Callout struct {
	reg      *Registry
	cfg      CalloutConfig
	operator [32]byte
	log      *zap.Logger
}

// Callout returns the registry's authorization service for a cluster.
func (r *Registry) Callout(cfg CalloutConfig, log *zap.Logger) (*Callout, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("auth callout: no issuer key")
	}
	if pub, err := cfg.Issuer.PublicKey(); err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("auth callout: the issuer must be an account key (a seed starting SA)")
	}
	if cfg.XKey != nil {
		if pub, err := cfg.XKey.PublicKey(); err != nil || !nkeys.IsValidPublicCurveKey(pub) {
			return nil, errors.New("auth callout: the xkey must be a curve key (a seed starting SX)")
		}
	}
	if cfg.Account == "" {
		return nil, errors.New("auth callout: name the NATS account clients are placed in")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Callout{reg: r, cfg: cfg, log: log}
	if cfg.AdminToken != "" {
		c.operator = sha256.Sum256([]byte(cfg.AdminToken))
	}
	return c, nil
}

// Run answers the servers' requests on nc until ctx ends. Every hub process
// may run it: they share a queue group, so one answers each request, and
// clients can connect as long as one hub is up.
func (c *Callout) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.QueueSubscribe(CalloutSubject, "crossdock-auth", func(m *nats.Msg) {
		answer, err := c.Answer(m.Data, m.Header.Get(calloutXKeyHeader))
		if err != nil {
			c.log.Warn("auth callout: request not answered", zap.Error(err))
			return // the server refuses the client when no answer comes
		}
		if err := m.Respond(answer); err != nil {
			c.log.Warn("auth callout: answer not sent", zap.Error(err))
		}
	})
	if err != nil {
		return fmt.Errorf("auth callout: subscribe %s: %w", CalloutSubject, err)
	}
	<-ctx.Done()
	return sub.Drain()
}

// Answer turns one authorization request (a JWT the server signed,
// encrypted when serverXKey is set) into the signed response: a user JWT
// with the identity's permissions, or a refusal. It returns an error only
// for a request it cannot read.
func (c *Callout) Answer(request []byte, serverXKey string) ([]byte, error) {
	if serverXKey != "" {
		if c.cfg.XKey == nil {
			return nil, errors.New("encrypted request, but no xkey configured (--nats-callout-xkey)")
		}
		var err error
		if request, err = c.cfg.XKey.Open(request, serverXKey); err != nil {
			return nil, fmt.Errorf("decrypt request: %w", err)
		}
	}
	req, err := jwt.DecodeAuthorizationRequestClaims(string(request))
	if err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	if !nkeys.IsValidPublicServerKey(req.Issuer) {
		return nil, fmt.Errorf("request not signed by a server (issuer %s)", req.Issuer)
	}
	res := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	res.Audience = req.Server.ID
	user, refusal := c.user(req)
	if refusal != "" {
		res.Error = refusal
	} else if res.Jwt, err = user.Encode(c.cfg.Issuer); err != nil {
		return nil, fmt.Errorf("sign user: %w", err)
	}
	token, err := res.Encode(c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sign response: %w", err)
	}
	if serverXKey != "" {
		sealed, err := c.cfg.XKey.Seal([]byte(token), serverXKey)
		if err != nil {
			return nil, fmt.Errorf("encrypt response: %w", err)
		}
		return sealed, nil
	}
	return []byte(token), nil
}

// user decides who the client is: the operator (admin token), or an
// account or warehouse by the API key given as password or token. The
// refusal never repeats what the client sent.
func (c *Callout) user(req *jwt.AuthorizationRequestClaims) (*jwt.UserClaims, string) {
	o := req.ConnectOptions
	u := jwt.NewUserClaims(req.UserNkey)
	u.Audience = c.cfg.Account // the account, in a server-configured (not operator-mode) cluster
	u.Expires = c.cfg.Now().Add(c.cfg.TTL).Unix()
	if c.operator != [32]byte{} && o.Token != "" {
		if sum := sha256.Sum256([]byte(o.Token)); subtle.ConstantTimeCompare(sum[:], c.operator[:]) == 1 {
			u.Name = "operator"
			return u, ""
		}
	}
	key := o.Password
	if key == "" {
		key = o.Token
	}
	id, ok := c.reg.Authenticate(key)
	if !ok {
		return nil, "unknown key"
	}
	g := GrantOf(id)
	u.Name = g.User
	u.Pub.Allow.Add(g.Publish...)
	u.Pub.Deny.Add(g.DenyPublish...)
	u.Sub.Allow.Add(g.Subscribe...)
	return u, ""
}
