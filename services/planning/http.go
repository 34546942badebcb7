package planning

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// Handler serves GET /v1/planning/accuracy: the calling account's forecast
// accuracy (Accuracy) at the service's clock. An account without shared
// planning gets 409 not_in_tier_menu.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/planning/accuracy", func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.reg.AuthenticateRequest(r)
		if !ok || id.Account == "" {
			problem.Unauthorized(w, "crossdock", "an account API key is required (Authorization: Bearer <key>)")
			return
		}
		entry, ok := s.reg.Account(id.Account)
		if !ok {
			problem.One(w, http.StatusUnauthorized, bus.CodeUnknownAccount, "account "+id.Account+" is not known", "")
			return
		}
		if !entry.Policy.SharesPlanning() {
			problem.One(w, http.StatusConflict, bus.CodeNotInTierMenu, "shared planning is not on the "+string(entry.Account.Tier)+" tier's menu", "")
			return
		}
		acc, err := s.Accuracy(r.Context(), id.Account, s.cfg.Now())
		if err != nil {
			s.log.Error("forecast accuracy", zap.String("account", id.Account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "accuracy cannot be measured right now", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(acc)
	})
	return mux
}
