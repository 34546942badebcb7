package orders

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// Handler serves GET /v1/orders/{po_number}: the order's state and history,
// to the account that placed it only. Another account's PO is simply not
// found: the key is scoped by the caller's account, so it cannot even learn
// that the PO exists.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/orders/{po_number}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.reg.AuthenticateRequest(r)
		if !ok || id.Account == "" {
			problem.Unauthorized(w, "crossdock", "an account API key is required (Authorization: Bearer <key>)")
			return
		}
		po := r.PathValue("po_number")
		o, _, err := s.get(r.Context(), orderKey(id.Account, po))
		if err != nil {
			s.log.Error("read order", zap.String("account", id.Account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "orders are not readable right now", "")
			return
		}
		if o == nil {
			problem.One(w, http.StatusNotFound, bus.CodeUnknownOrder, "no order with PO number "+po, "po_number")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(o)
	})
	return mux
}
