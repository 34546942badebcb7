package vmi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
)

// View is a position as GET /v1/inventory/{gln}/{gtin} shows it.
type View struct {
	Account           string         `json:"account"`
	Location          string         `json:"location"`
	GTIN              string         `json:"gtin"`
	OnHand            int64          `json:"on_hand"`
	OnOrder           int64          `json:"on_order"` // the customer's own plus replenishments in transit
	CustomerOnOrder   int64          `json:"customer_on_order"`
	InTransit         int64          `json:"in_transit"`
	Open              int64          `json:"open"` // units requested and not yet shipped
	OpenReplenishment *Replenishment `json:"open_replenishment,omitempty"`
	Position          int64          `json:"inventory_position"`
	Demand            float64        `json:"demand"`
	Deviation         float64        `json:"deviation"`
	ReorderPoint      float64        `json:"reorder_point"`
	Target            float64        `json:"target"`
	Rule              string         `json:"rule"` // the rule that set the levels: forecast | reported_demand
	Mode              string         `json:"mode"` // the account's vmi: continuous | scheduled | off
	AsOf              time.Time      `json:"as_of"`
}

// Handler serves GET /v1/inventory/{gln}/{gtin}: a position, with its
// reorder point and target under the account's current policy, to the
// account that reported it only. The key is scoped by the caller's account,
// so another account's location is simply not found.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/inventory/{gln}/{gtin}", s.reg.AccountOnly(func(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
		gln, gtin := r.PathValue("gln"), r.PathValue("gtin")
		if gs1.CheckGLN(gln) != nil {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, gln+" is not a GLN", "gln")
			return
		}
		if err := gs1.CheckGTIN(gtin); err != nil {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, gtin+" is not a GTIN: "+err.Error(), "gtin")
			return
		}
		v, err := s.Position(r.Context(), entry, gln, gtin)
		if err != nil {
			s.log.Error("read position", zap.String("account", entry.Account.ID), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "positions are not readable right now", "")
			return
		}
		if v == nil {
			problem.One(w, http.StatusNotFound, bus.CodeUnknownPosition, "no report has named "+gs1.GTIN14(gtin)+" at "+gln, "gtin")
			return
		}
		writeJSON(w, http.StatusOK, v)
	}))
	return mux
}

// Position is GET /v1/inventory/{gln}/{gtin} for callers inside the hub
// (the portal): an account's position with its reorder point and target
// under the account's current policy, nil when no report named it. gln and
// gtin are checked by the caller.
func (s *Service) Position(ctx context.Context, entry *accounts.Entry, gln, gtin string) (*View, error) {
	p, _, err := s.get(ctx, posKey(entry.Account.ID, gln, gs1.GTIN14(gtin)))
	if err != nil || p == nil {
		return nil, err
	}
	v, err := s.view(ctx, entry, p)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Positions returns every position of an account, by location and GTIN,
// as they stood when the read began (read in batches, as a scheduled run
// reads them).
func (s *Service) Positions(ctx context.Context, entry *accounts.Entry) ([]View, error) {
	var out []View
	err := bus.ReadBucket(ctx, s.bus.JetStream(), Bucket, bus.BucketRead{Keys: "pos." + entry.Account.ID + ".>"}, func(e bus.Entry) error {
		if e.Deleted || e.Late {
			return nil
		}
		var p Position
		if err := json.Unmarshal(e.Value, &p); err != nil {
			return fmt.Errorf("decode position %s: %w", e.Key, err)
		}
		v, err := s.view(ctx, entry, &p)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list positions of %s: %w", entry.Account.ID, err)
	}
	slices.SortFunc(out, func(a, b View) int { return cmp.Or(cmp.Compare(a.Location, b.Location), cmp.Compare(a.GTIN, b.GTIN)) })
	return out, nil
}

// view is a position as the API shows it, with its reorder point and
// target as the account's plan (forecast or policy) makes them now.
func (s *Service) view(ctx context.Context, entry *accounts.Entry, p *Position) (View, error) {
	par, err := s.plan(ctx, entry, p.Location, p.GTIN, s.cfg.Now())
	if err != nil {
		return View{}, fmt.Errorf("plan of %s at %s: %w", p.GTIN, p.Location, err)
	}
	l := LevelsOf(p, par)
	v := View{
		Account: p.Account, Location: p.Location, GTIN: p.GTIN, OnHand: p.OnHand,
		OnOrder: p.OnOrder + p.Transit, CustomerOnOrder: p.OnOrder, InTransit: p.Transit,
		OpenReplenishment: p.Open, Position: p.InventoryPosition(),
		Demand: round2(p.Demand), Deviation: round2(p.Deviation()),
		ReorderPoint: round2(l.Reorder), Target: round2(l.Target), Rule: l.Rule, Mode: entry.Policy.VMI, AsOf: p.AsOf,
	}
	if p.Open != nil {
		v.Open = p.Open.Unshipped()
	}
	return v, nil
}

// AdminHandler serves POST /v1/admin/vmi/run?account=<id>[&run=<id>] with the
// admin token: it runs the account's scheduled evaluation now and answers
// with what it did. Passing the same run id again repeats that run (it
// requests nothing twice); without one, each call is a new run. The run is
// not tied to the request: a client that disconnects does not stop it
// halfway. An empty token disables the endpoint (404).
func (s *Service) AdminHandler(adminToken string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/vmi/run", func(w http.ResponseWriter, r *http.Request) {
		account := r.URL.Query().Get("account")
		if account == "" {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "name the account: ?account=<id>", "account")
			return
		}
		run := r.URL.Query().Get("run")
		if run == "" {
			run = "manual-" + s.cfg.Now().UTC().Format("20060102T150405.000000000Z")
		}
		res, err := s.RunAccount(context.WithoutCancel(r.Context()), account, run)
		switch {
		case errors.Is(err, accounts.ErrUnknownAccount):
			problem.One(w, http.StatusNotFound, bus.CodeUnknownAccount, "no account "+account, "account")
		case errors.Is(err, ErrNoVMI):
			problem.One(w, http.StatusConflict, bus.CodeNotInTierMenu, "account "+account+" has no vendor-managed inventory in its tier", "account")
		case err != nil:
			s.log.Error("vmi run", zap.String("account", account), zap.String("run", run), zap.Error(err))
			problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed, "the run failed; run it again with run="+run, "")
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("/", accounts.NoAdminEndpoint)
	return accounts.AdminOnly(adminToken, mux)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
