package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
)

// MaxCheckSize is the largest order, in bytes, POST /v1/orders/check takes:
// the gateway's limit for one event.
const MaxCheckSize = 1 << 20

// Handler serves the orders API to the account that placed the orders only:
//
//   - GET /v1/orders/{po_number}: the order's state and history. Another
//     account's PO is simply not found: the key is scoped by the caller's
//     account, so it cannot even learn that the PO exists.
//     With it, the order's timeline (Service.Timeline).
//   - GET /v1/orders?po=&from=&to=&offset=&limit=: the account's orders,
//     newest first (Service.List); from and to are dates (YYYY-MM-DD, UTC)
//     or RFC 3339 times, from defaulting to 90 days ago.
//   - POST /v1/orders/check: a dry run of an order (Service.Check),
//     200 with the decision, reasons and rules; nothing is stored.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/orders/{po_number}", s.reg.AccountOnly(func(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
		account := entry.Account.ID
		po := r.PathValue("po_number")
		o, err := s.Timeline(r.Context(), account, po)
		if err != nil {
			s.log.Error("read order", zap.String("account", account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "orders are not readable right now", "")
			return
		}
		if o == nil {
			problem.One(w, http.StatusNotFound, bus.CodeUnknownOrder, "no order with PO number "+po, "po_number")
			return
		}
		writeJSON(w, o)
	}))
	mux.Handle("GET /v1/orders", s.reg.AccountOnly(s.getList))
	mux.Handle("POST /v1/orders/check", s.reg.AccountOnly(s.postCheck))
	return mux
}

// postCheck serves POST /v1/orders/check: the body is the data of an
// order.placed event (application/json).
func (s *Service) postCheck(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
	account := entry.Account.ID
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" && ct != "" {
		problem.One(w, http.StatusUnsupportedMediaType, bus.CodeUnsupportedMedia,
			fmt.Sprintf("content type %q: send the order's data as application/json", r.Header.Get("Content-Type")), "Content-Type")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCheckSize))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		problem.One(w, http.StatusRequestEntityTooLarge, bus.CodeTooLarge, fmt.Sprintf("the order is over the limit of %d bytes", MaxCheckSize), "")
		return
	}
	if err != nil {
		problem.One(w, http.StatusBadRequest, bus.CodeInvalidJSON, "reading the request: "+err.Error(), "")
		return
	}
	res, err := s.Check(r.Context(), account, body)
	if err != nil {
		s.log.Error("check order", zap.String("account", account), zap.Error(err))
		problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "orders cannot be checked right now", "")
		return
	}
	writeJSON(w, res)
}

// ListWindow is how far back GET /v1/orders looks when from is not given.
const ListWindow = 90 * 24 * time.Hour

// getList serves GET /v1/orders.
func (s *Service) getList(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
	account := entry.Account.ID
	q := Query{POPrefix: r.URL.Query().Get("po"), From: s.cfg.Now().Add(-ListWindow)}
	for _, p := range []struct {
		name string
		into *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		t, err := ParseWhen(v)
		if err != nil {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, p.name+": "+err.Error(), p.name)
			return
		}
		*p.into = t
	}
	for _, p := range []struct {
		name string
		into *int
	}{{"offset", &q.Offset}, {"limit", &q.Limit}} {
		v := r.URL.Query().Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, fmt.Sprintf("%s %q: want a whole number, 0 or more", p.name, v), p.name)
			return
		}
		*p.into = n
	}
	page, err := s.List(r.Context(), account, q)
	if err != nil {
		s.log.Error("list orders", zap.String("account", account), zap.Error(err))
		problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "orders are not readable right now", "")
		return
	}
	writeJSON(w, page)
}

// ParseWhen reads a query's date (YYYY-MM-DD, the start of that day UTC)
// or RFC 3339 time.
func ParseWhen(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (YYYY-MM-DD) or an RFC 3339 time", v)
	}
	return t.UTC(), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
