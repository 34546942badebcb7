package planning

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
)

// Handler serves GET /v1/planning/accuracy: the calling account's forecast
// accuracy (Accuracy) at the service's clock. An account without shared
// planning gets 409 not_in_tier_menu.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/planning/accuracy", s.reg.AccountOnly(func(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
		account := entry.Account.ID
		if !entry.Policy.SharesPlanning() {
			problem.One(w, http.StatusConflict, bus.CodeNotInTierMenu, "shared planning is not on the "+string(entry.Account.Tier)+" tier's menu", "")
			return
		}
		acc, err := s.Accuracy(r.Context(), account, s.cfg.Now())
		if err != nil {
			s.log.Error("forecast accuracy", zap.String("account", account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "accuracy cannot be measured right now", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(acc)
	}))
	return mux
}
