package rfid

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// EPCState is the answer of GET /v1/rfid/epcs/{epc}.
type EPCState struct {
	EPC      string        `json:"epc"`
	GTIN     string        `json:"gtin,omitempty"`
	Location string        `json:"location"`
	Since    time.Time     `json:"since"`
	LastSeen time.Time     `json:"last_seen"`
	Recent   []Observation `json:"recent"`
}

// Handler serves GET /v1/rfid/epcs/{epc} (hex, pure identity URI or tag
// URI): the EPC's last location and recent observations, to the account
// that read it only. Tracks are keyed by account, so another account's EPC
// is simply not found.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/rfid/epcs/{epc}", s.reg.AccountOnly(func(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
		account := entry.Account.ID
		in := r.PathValue("epc")
		st, err := s.EPC(r.Context(), account, in)
		var bad *BadEPCError
		switch {
		case errors.As(err, &bad):
			problem.One(w, http.StatusBadRequest, bus.CodeBadEPC, bad.Error(), "epc")
			return
		case err != nil:
			s.log.Error("read track", zap.String("account", account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "RFID tracks are not readable right now", "")
			return
		case st == nil:
			uri, _ := epc.Normalize(in)
			problem.One(w, http.StatusNotFound, bus.CodeUnknownEPC, "no reads of EPC "+uri, "epc")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	}))
	return mux
}

// BadEPCError is EPC's error for input that is not an EPC (code bad_epc).
type BadEPCError struct {
	Input  string
	Reason string
}

func (e *BadEPCError) Error() string { return "EPC " + e.Input + ": " + e.Reason }

// EPC is GET /v1/rfid/epcs/{epc} for callers inside the hub (the portal):
// an EPC (hex, pure identity URI or tag URI) as an account read it, its
// last location and recent observations; nil when the account never read
// it, whether or not another account did.
func (s *Service) EPC(ctx context.Context, account, in string) (*EPCState, error) {
	uri, err := epc.Normalize(in)
	if err != nil {
		msg := err.Error()
		var be *epc.Error
		if errors.As(err, &be) {
			msg = be.Reason
		}
		return nil, &BadEPCError{Input: in, Reason: msg}
	}
	t, _, err := s.get(ctx, trackKey(account, uri))
	if err != nil {
		return nil, err
	}
	if t == nil || t.Location == "" {
		return nil, nil
	}
	st := EPCState{EPC: uri, Location: t.Location, Since: t.Since, LastSeen: t.LastSeen, Recent: t.Recent}
	if e, err := epc.Parse(uri); err == nil {
		st.GTIN = e.GTIN()
	}
	return &st, nil
}

// Observations returns the recent observations (at most RecentMax, oldest
// first) of an account's EPC, given as its pure identity URI; none when the
// account never read it. The order timeline shows a shipment's tags with it.
func (s *Service) Observations(ctx context.Context, account, uri string) ([]Observation, error) {
	t, _, err := s.get(ctx, trackKey(account, uri))
	if err != nil || t == nil {
		return nil, err
	}
	return t.Recent, nil
}
