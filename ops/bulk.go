package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
)

// RedriveReport says what a redrive of a filtered set did to each dead
// letter.
type RedriveReport struct {
	Redriven []Redriven      `json:"redriven"`
	Failed   []RedriveFailed `json:"failed"`
}

// RedriveFailed is a dead letter that could not be redriven, and why.
type RedriveFailed struct {
	Seq   uint64 `json:"seq"`
	Error string `json:"error"`
}

// RedriveAll redrives every dead letter f selects (at most f.Limit, the
// oldest first), one by one, as Redrive does; one failing does not stop the
// others.
func (o *Ops) RedriveAll(ctx context.Context, f Filter) (RedriveReport, error) {
	dls, err := o.List(ctx, f)
	if err != nil {
		return RedriveReport{}, err
	}
	rep := RedriveReport{Redriven: []Redriven{}, Failed: []RedriveFailed{}}
	for _, d := range dls {
		res, err := o.Redrive(ctx, d.Seq)
		if err != nil {
			rep.Failed = append(rep.Failed, RedriveFailed{Seq: d.Seq, Error: err.Error()})
			continue
		}
		rep.Redriven = append(rep.Redriven, res)
	}
	return rep, nil
}

func (h *handler) redriveAll(w http.ResponseWriter, r *http.Request) {
	f, ok := filterOf(w, r, 1000)
	if !ok {
		return
	}
	if f.Account == "" && f.Warehouse == "" && f.Code == "" {
		problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, "name an account, a warehouse or a code: redriving the whole DLQ at once is not offered", "")
		return
	}
	rep, err := h.ops.RedriveAll(r.Context(), f)
	if err != nil {
		h.fail(w, "redrive", err)
		return
	}
	h.log.Info("dead letters redriven", zap.String("account", f.Account), zap.String("warehouse", f.Warehouse),
		zap.String("code", f.Code), zap.Int("redriven", len(rep.Redriven)), zap.Int("failed", len(rep.Failed)))
	writeJSON(w, http.StatusOK, rep)
}

// ReplayJob is a replay running in the background, and how far it got.
type ReplayJob struct {
	ID        string    `json:"id"`
	Account   string    `json:"account,omitempty"`
	Warehouse string    `json:"warehouse,omitempty"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until,omitzero"`
	Types     []string  `json:"types,omitempty"`
	// State is running, done or failed (Error says why; replay again from
	// the failed event's time to continue).
	State    string    `json:"state"`
	Total    uint64    `json:"total"` // events stored for the endpoint since Since when it started
	Sent     int       `json:"sent"`
	Skipped  int       `json:"skipped"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// Replays runs replays in the background and remembers the last
// maxReplayJobs, so that an operator can start one and watch its progress.
type Replays struct {
	ctx  context.Context
	ops  *Ops
	mu   sync.Mutex
	jobs []*ReplayJob
	wg   sync.WaitGroup
}

const maxReplayJobs = 50

// NewReplays returns a job runner whose replays stop when ctx ends.
func NewReplays(ctx context.Context, o *Ops) *Replays { return &Replays{ctx: ctx, ops: o} }

// Start checks req and the endpoint, then replays in the background.
func (rs *Replays) Start(req ReplayRequest) (ReplayJob, error) {
	if (req.Account == "") == (req.Warehouse == "") || req.Since.IsZero() {
		return ReplayJob{}, fmt.Errorf("replay: name the account (or the warehouse) and since")
	}
	ep, err := rs.ops.Endpoint(rs.ctx, req.Account, req.Warehouse)
	if err != nil {
		return ReplayJob{}, fmt.Errorf("replay: %w", err)
	}
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	job := &ReplayJob{ID: hex.EncodeToString(id), Account: req.Account, Warehouse: req.Warehouse, Since: req.Since, Until: req.Until,
		Types: req.Types, State: "running", Started: time.Now().UTC()}
	since := req.Since
	if cons, err := rs.ops.js.OrderedConsumer(rs.ctx, bus.StreamOut, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ep.Subject()}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
	}); err == nil {
		if info, err := cons.Info(rs.ctx); err == nil {
			job.Total = info.NumPending
		}
	}
	rs.mu.Lock()
	rs.jobs = append(rs.jobs, job)
	if len(rs.jobs) > maxReplayJobs {
		rs.jobs = rs.jobs[len(rs.jobs)-maxReplayJobs:]
	}
	snapshot := *job
	rs.mu.Unlock()
	req.Progress = func(r Replayed) {
		rs.mu.Lock()
		job.Sent, job.Skipped = r.Sent, r.Skipped
		rs.mu.Unlock()
	}
	rs.wg.Go(func() {
		res, err := rs.ops.Replay(rs.ctx, req)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		job.Sent, job.Skipped, job.State, job.Finished = res.Sent, res.Skipped, "done", time.Now().UTC()
		if err != nil {
			job.State, job.Error = "failed", err.Error()
		}
	})
	return snapshot, nil
}

// Get returns a job by id.
func (rs *Replays) Get(id string) (ReplayJob, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, j := range rs.jobs {
		if j.ID == id {
			return *j, true
		}
	}
	return ReplayJob{}, false
}

// List returns the jobs, newest first.
func (rs *Replays) List() []ReplayJob {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]ReplayJob, 0, len(rs.jobs))
	for _, j := range rs.jobs {
		out = append(out, *j)
	}
	slices.Reverse(out)
	return out
}

// Wait blocks until every replay has returned (after ctx ended).
func (rs *Replays) Wait() { rs.wg.Wait() }

// Handler serves the jobs (mount it behind the admin token):
//
//	POST /v1/admin/replays        {"account" or "warehouse","since","until","types"}: 202 with the job
//	GET  /v1/admin/replays        the last jobs, newest first
//	GET  /v1/admin/replays/{id}   one job and its progress
func (rs *Replays) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/admin/replays", func(w http.ResponseWriter, r *http.Request) {
		req, ok := readReplay(w, r)
		if !ok {
			return
		}
		job, err := rs.Start(req)
		switch {
		case answerKnown(w, err):
		case err != nil:
			problem.One(w, http.StatusInternalServerError, bus.CodeProcessingFailed, err.Error(), "")
		default:
			writeJSON(w, http.StatusAccepted, job)
		}
	})
	mux.HandleFunc("GET /v1/admin/replays", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"replays": rs.List()})
	})
	mux.HandleFunc("GET /v1/admin/replays/{id}", func(w http.ResponseWriter, r *http.Request) {
		job, ok := rs.Get(r.PathValue("id"))
		if !ok {
			problem.One(w, http.StatusNotFound, problem.CodeNotFound, "no replay "+r.PathValue("id"), "")
			return
		}
		writeJSON(w, http.StatusOK, job)
	})
	return mux
}
