package console

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/delivery"
)

// accountRow is one line of the accounts page.
type accountRow struct {
	ID, Name   string
	Tier       accounts.Tier
	Lane       accounts.Lane
	Webhook    bool
	DeadLetter uint64
}

func (c *Console) accountsPage(w http.ResponseWriter, r *http.Request) {
	dead := map[string]uint64{}
	for _, d := range c.cfg.Flow.Snapshot().DLQ {
		if d.Account != "" {
			dead[d.Account] += d.Count
		}
	}
	var rows []accountRow
	for _, id := range c.cfg.Registry.Select(func(*accounts.Entry) bool { return true }) {
		e, ok := c.cfg.Registry.Account(id)
		if !ok {
			continue
		}
		rows = append(rows, accountRow{ID: id, Name: e.Account.Name, Tier: e.Account.Tier, Lane: e.Policy.Lane,
			Webhook: e.Account.Webhook != nil, DeadLetter: dead[id]})
	}
	c.render(w, r, http.StatusOK, "accounts", "Accounts", rows, Base+"/accounts")
}

// accountView is the account page.
type accountView struct {
	Entry      *accounts.Entry
	Policy     []policyRow
	Overrides  []policyRow
	Webhook    *webhookState
	Changes    []tierChange
	Tiers      []accounts.Tier
	Confirm    accounts.Tier // the tier the operator asked for, awaiting confirmation
	DeadLetter []ops.DeadLetter
}

type policyRow struct{ Key, Value string }

// webhookState is an endpoint's delivery as its durable consumer and the
// DLQ tell it.
type webhookState struct {
	URL         string
	Delivery    string // realtime or batched
	LastSuccess *time.Time
	Pending     uint64
	AckPending  int
	Failures    int // dead letters of the endpoint (delivery_failed)
	LastFailure string
}

type tierChange struct {
	At       time.Time
	From, To string
	EventID  string
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request) {
	v, ok := c.account(r, r.PathValue("id"))
	if !ok {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", nil, "")
		return
	}
	c.render(w, r, http.StatusOK, "account", "Account "+v.Entry.Account.ID, v, Base+"/accounts")
}

func (c *Console) account(r *http.Request, id string) (*accountView, bool) {
	e, ok := c.cfg.Registry.Account(id)
	if !ok {
		return nil, false
	}
	ctx, cancel := ctx(r)
	defer cancel()
	v := &accountView{Entry: e, Tiers: accounts.Tiers}
	v.Policy = policyRows(e.Policy)
	for _, k := range slices.Sorted(maps.Keys(e.Account.Overrides)) {
		b, _ := json.Marshal(e.Account.Overrides[k])
		v.Overrides = append(v.Overrides, policyRow{Key: k, Value: string(b)})
	}
	if e.Account.Webhook != nil {
		ws := &webhookState{URL: redact(e.Account.Webhook.URL), Delivery: e.Policy.Delivery}
		ep := delivery.Endpoint{Account: id}
		if cons, err := c.cfg.JS.Consumer(ctx, bus.StreamOut, ep.Durable()); err == nil {
			if ci, err := cons.Info(ctx); err == nil {
				ws.LastSuccess, ws.Pending, ws.AckPending = ci.AckFloor.Last, ci.NumPending, ci.NumAckPending
			}
		}
		if dls, err := c.cfg.Ops.List(ctx, ops.Filter{Account: id, Code: bus.CodeDeliveryFailed, Limit: 100}); err == nil {
			ws.Failures = len(dls)
			if len(dls) > 0 {
				ws.LastFailure = dls[len(dls)-1].Response + " at " + dls[len(dls)-1].Time.UTC().Format(time.RFC3339)
			}
		}
		v.Webhook = ws
	}
	v.Changes = c.tierChanges(ctx, id)
	if dls, err := c.cfg.Ops.List(ctx, ops.Filter{Account: id, Limit: 10}); err == nil {
		slices.Reverse(dls)
		v.DeadLetter = dls
	}
	return v, true
}

// tierChanges reads the account's last tier changes from XD_OUT.
// Tier changes are rare: the scan reads the account's one subject over
// XD_OUT's retention and keeps the last 20, newest first.
func (c *Console) tierChanges(ctx context.Context, id string) []tierChange {
	var out []tierChange
	subject := bus.OutSubject(id, "account.tier.changed")
	err := bus.Scan(ctx, c.cfg.JS, bus.StreamOut, []string{subject}, bus.From{}, func(m jetstream.Msg, _ uint64) bool {
		var d struct{ From, To string }
		_ = json.Unmarshal(m.Data(), &d)
		at := time.Time{}
		if md, err := m.Metadata(); err == nil {
			at = md.Timestamp
		}
		out = append(out, tierChange{At: at, From: d.From, To: d.To, EventID: m.Headers().Get("ce-id")})
		if len(out) > 20 {
			out = out[1:]
		}
		return true
	})
	if err != nil {
		return nil
	}
	slices.Reverse(out)
	return out
}

// changeTier asks for confirmation, then changes the tier through the
// registry (which announces account.tier.changed), as PUT
// /v1/admin/accounts/{id}/tier does.
func (c *Console) changeTier(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	to := accounts.Tier(r.PostFormValue("tier"))
	v, ok := c.account(r, id)
	if !ok {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", nil, "")
		return
	}
	if !to.Valid() {
		c.render(w, r, http.StatusBadRequest, "account", "Account "+id, v, Base+"/accounts")
		return
	}
	if to == v.Entry.Account.Tier {
		back(w, r, "/accounts/"+id, "account "+id+" is already "+string(to))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		v.Confirm = to
		c.render(w, r, http.StatusOK, "account", "Confirm the tier change of "+id, v, Base+"/accounts")
		return
	}
	ctx, cancel := ctx(r)
	defer cancel()
	tc, err := c.cfg.Registry.SetTier(ctx, id, to)
	if err != nil && !errors.Is(err, accounts.ErrUnknownAccount) && tc.Account != "" {
		back(w, r, "/accounts/"+id, "tier changed from "+string(tc.From)+" to "+string(tc.To)+", but the announcement failed: "+err.Error())
		return
	}
	if err != nil {
		back(w, r, "/accounts/"+id, "tier change failed: "+err.Error())
		return
	}
	c.cfg.Log.Info("console tier change", zap.String("account", id), zap.String("from", string(tc.From)), zap.String("to", string(tc.To)))
	back(w, r, "/accounts/"+id, "tier changed from "+string(tc.From)+" to "+string(tc.To)+"; account.tier.changed sent")
}

// policyRows lists the effective policy, key by key as in the tier file.
func policyRows(p accounts.Policy) []policyRow {
	b, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	var out []policyRow
	for _, k := range slices.Sorted(maps.Keys(m)) {
		vb, _ := json.Marshal(m[k])
		out = append(out, policyRow{Key: k, Value: strings.Trim(string(vb), `"`)})
	}
	return out
}

// redact drops a URL's password and query, which may hold secrets.
func redact(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if s, rest, ok := strings.Cut(u, "://"); ok {
		if at := strings.Index(rest, "@"); at >= 0 && at < strings.Index(rest+"/", "/") {
			rest = rest[at+1:]
		}
		return s + "://" + rest
	}
	return u
}
