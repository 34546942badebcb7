package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/delivery"
)

// Flusher sends an account's digest now; the delivery service is one. Nil
// when delivery does not run in this process.
type Flusher interface {
	Flush(ctx context.Context, account string) (delivery.DigestResult, error)
}

// Handler serves the operators' delivery endpoints, authenticated with
// Authorization: Bearer <adminToken> like the rest of /v1/admin/:
//
//	GET  /v1/admin/dlq?account=&warehouse=&code=&limit=   dead letters, newest last
//	GET  /v1/admin/dlq/{seq}                              one, with its original headers and body
//	POST /v1/admin/dlq/{seq}/redrive                      send it back to where it failed
//	POST /v1/admin/dlq/redrive?account=&warehouse=&code=&limit=   redrive every one the filter selects
//	POST /v1/admin/replay   {"account" or "warehouse","since","until","types"}
//	POST /v1/admin/delivery/flush?account=[&wait=10s]     send a batched account's digest now: 200 when sent, 202 with what is pending when not within wait
//
// An empty adminToken disables them (404), as for the accounts endpoints.
func Handler(o *Ops, flush Flusher, adminToken string, log *zap.Logger) http.Handler {
	h := &handler{ops: o, flush: flush, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/admin/dlq", h.list)
	mux.HandleFunc("GET /v1/admin/dlq/{seq}", h.show)
	mux.HandleFunc("POST /v1/admin/dlq/{seq}/redrive", h.redrive)
	mux.HandleFunc("POST /v1/admin/dlq/redrive", h.redriveAll)
	mux.HandleFunc("POST /v1/admin/replay", h.replay)
	mux.HandleFunc("POST /v1/admin/delivery/flush", h.flushNow)
	mux.HandleFunc("/", accounts.NoAdminEndpoint)
	return accounts.AdminOnly(adminToken, mux)
}

type handler struct {
	ops   *Ops
	flush Flusher
	log   *zap.Logger
}

// filterOf reads a dead-letter filter from the query (account, warehouse,
// code, limit up to maxLimit), answering 400 and false when it is malformed.
func filterOf(w http.ResponseWriter, r *http.Request, maxLimit int) (Filter, bool) {
	q := r.URL.Query()
	f := Filter{Account: q.Get("account"), Warehouse: q.Get("warehouse"), Code: q.Get("code")}
	for field, v := range map[string]string{"account": f.Account, "warehouse": f.Warehouse, "code": f.Code} {
		if v != "" && !bus.ValidToken(v) {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, field+": want a-z, 0-9, - and _", field)
			return f, false
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, fmt.Sprintf("limit: want 1 to %d", maxLimit), "limit")
			return f, false
		}
		f.Limit = n
	}
	return f, true
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, ok := filterOf(w, r, 10000)
	if !ok {
		return
	}
	dls, err := h.ops.List(r.Context(), f)
	if err != nil {
		h.fail(w, "list dead letters", err)
		return
	}
	if dls == nil {
		dls = []DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": dls})
}

func (h *handler) seq(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "seq: want the dead letter's stream sequence, a positive integer", "seq")
		return 0, false
	}
	return seq, true
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	seq, ok := h.seq(w, r)
	if !ok {
		return
	}
	d, err := h.ops.Show(r.Context(), seq)
	if err != nil {
		h.fail(w, "show dead letter", err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *handler) redrive(w http.ResponseWriter, r *http.Request) {
	seq, ok := h.seq(w, r)
	if !ok {
		return
	}
	res, err := h.ops.Redrive(r.Context(), seq)
	if err != nil {
		h.fail(w, "redrive", err)
		return
	}
	h.log.Info("dead letter redriven", zap.Uint64("seq", seq), zap.String("action", res.Action))
	writeJSON(w, http.StatusOK, res)
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	req, ok := readReplay(w, r)
	if !ok {
		return
	}
	res, err := h.ops.Replay(r.Context(), req)
	if err != nil {
		if res.Sent > 0 {
			h.log.Warn("replay stopped", zap.String("account", req.Account), zap.String("warehouse", req.Warehouse), zap.Int("sent", res.Sent), zap.Error(err))
			problem.Write(w, http.StatusBadGateway, err.Error(), problem.Of([]bus.Problem{{Code: bus.CodeDeliveryFailed, Message: err.Error()}}))
			return
		}
		h.fail(w, "replay", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ParseReplay reads a replay request body: {"account", "since", "until",
// "types"} with RFC 3339 times.
func ParseReplay(body []byte) (ReplayRequest, error) {
	var req ReplayRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return ReplayRequest{}, errors.New(`body: want {"account": "...", "since": "<RFC 3339>", "until": "<RFC 3339>", "types": [...]}: ` + err.Error())
	}
	switch {
	case req.Account != "" && req.Warehouse != "":
		return ReplayRequest{}, errors.New("account, warehouse: name one of the two")
	case req.Warehouse != "" && !bus.ValidToken(req.Warehouse):
		return ReplayRequest{}, errors.New("warehouse: want a warehouse id")
	case req.Warehouse == "" && !bus.ValidToken(req.Account):
		return ReplayRequest{}, errors.New("account: want an account id")
	}
	if req.Since.IsZero() {
		return ReplayRequest{}, errors.New("since: want an RFC 3339 time")
	}
	if !req.Until.IsZero() && !req.Until.After(req.Since) {
		return ReplayRequest{}, errors.New("until: want a time after since")
	}
	return req, nil
}

func (h *handler) flushNow(w http.ResponseWriter, r *http.Request) {
	account := r.URL.Query().Get("account")
	if !bus.ValidToken(account) {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "account: want ?account=<id>", "account")
		return
	}
	if h.flush == nil {
		problem.One(w, http.StatusServiceUnavailable, problem.CodeNotRunning, "the delivery service does not run in this process", "")
		return
	}
	wait := DefaultFlushWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 5*time.Minute {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "wait: want a duration from 1s to 5m, e.g. 30s", "wait")
			return
		}
		wait = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	res, err := h.flush.Flush(ctx, account)
	if errors.Is(err, delivery.ErrNotBatched) {
		problem.One(w, http.StatusConflict, problem.CodeNotBatched, "account "+account+" has no batched webhook delivery (delivery: batched and a webhook)", "account")
		return
	}
	if errors.Is(err, delivery.ErrDigestBusy) {
		problem.One(w, http.StatusConflict, problem.CodeDigestBusy, err.Error(), "account")
		return
	}
	if err != nil {
		h.log.Warn("flush failed", zap.String("account", account), zap.Error(err))
		problem.Write(w, http.StatusBadGateway, err.Error(), problem.Of([]bus.Problem{{Code: bus.CodeDeliveryFailed, Message: err.Error()}}))
		return
	}
	if !res.Done {
		// Still being sent: the digest goes on in the background, its POSTs
		// retried with backoff like a scheduled digest's.
		writeJSON(w, http.StatusAccepted, flushPending{DigestResult: res, Message: fmt.Sprintf(
			"the digest was not delivered within %s (the endpoint is slow or down, or another digest of %s is under way): %d event(s) delivered, %d pending; it is retried in the background",
			wait, account, res.Events, res.Pending)})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// DefaultFlushWait is how long POST /v1/admin/delivery/flush waits for the
// digest before answering 202 with what is still pending (?wait= changes it,
// 1s to 5m).
const DefaultFlushWait = 10 * time.Second

// flushPending is the 202 answer of a flush that did not finish in time.
type flushPending struct {
	delivery.DigestResult
	Message string `json:"message"`
}

// fail answers an operation's error: what answerKnown knows, else 500
// (logged).
func (h *handler) fail(w http.ResponseWriter, what string, err error) {
	if answerKnown(w, err) {
		return
	}
	h.log.Error(what, zap.Error(err))
	problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed, what+" failed: "+err.Error(), "")
}

// answerKnown answers the errors an operation returns on purpose, and
// reports whether err was one: 404 for what is not there, 409 for an
// endpoint without a webhook or a dead letter that is no longer the
// original.
func answerKnown(w http.ResponseWriter, err error) bool {
	switch {
	case errors.Is(err, ErrNotFound):
		problem.One(w, http.StatusNotFound, problem.CodeNotFound, err.Error(), "")
	case errors.Is(err, ErrNoWebhook):
		problem.One(w, http.StatusConflict, problem.CodeNoWebhook, err.Error(), "")
	case errors.Is(err, ErrTrimmed):
		problem.One(w, http.StatusConflict, problem.CodeTrimmed, err.Error(), "")
	default:
		return false
	}
	return true
}

// readReplay reads a replay request from the body (at most 64 KiB),
// answering 413 or 400 when it cannot; the caller then returns.
func readReplay(w http.ResponseWriter, r *http.Request) (ReplayRequest, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		problem.One(w, http.StatusRequestEntityTooLarge, bus.CodeTooLarge, "body: want at most 64 KiB", "")
		return ReplayRequest{}, false
	}
	req, err := ParseReplay(body)
	if err != nil {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, err.Error(), "")
		return ReplayRequest{}, false
	}
	return req, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
