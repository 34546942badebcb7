package vmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// ErrNoVMI is returned by RunAccount for an account whose tier has no VMI.
var ErrNoVMI = errors.New("vmi is off for the account")

// staleClaim is how long a claimed daily run may go without finishing before
// another process takes it over (its owner is taken to have died).
const staleClaim = 15 * time.Minute

// RunResult is what a scheduled run did.
type RunResult struct {
	Account   string `json:"account"`
	Run       string `json:"run"`
	Evaluated int64  `json:"evaluated"`        // positions read
	Requested int64  `json:"requested"`        // replenishments requested (or announced again)
	Open      int64  `json:"open"`             // positions skipped: a replenishment is open
	Failed    int64  `json:"failed"`           // positions that could not be written or announced
	Millis    int64  `json:"duration_ms"`      // wall time
	Skipped   bool   `json:"skipped,omitzero"` // another process had done this run
}

// claim is the value of run.<account>.<slot>: who runs it and whether it is done.
type claim struct {
	State string    `json:"state"` // running | done
	At    time.Time `json:"at"`
}

// scheduleLoop runs each scheduled account's daily evaluation once its
// vmi_cutoff (UTC) has passed, in this goroutine and never in the lanes'
// consumers, one account at a time.
func (s *Service) scheduleLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckEvery)
	defer t.Stop()
	for {
		if err := s.RunDue(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled vmi runs", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunDue runs today's evaluation of every account with scheduled VMI whose
// cutoff has passed by now, unless a process has already done it. Processes
// claim a day's run in the bucket (create-if-absent), so that it runs once.
func (s *Service) RunDue(ctx context.Context, now time.Time) error {
	kv, err := s.bus.JetStream().KeyValue(ctx, accounts.BucketName)
	if err != nil {
		return fmt.Errorf("open accounts bucket: %w", err)
	}
	lister, err := kv.ListKeysFiltered(ctx, "account.*")
	if err != nil {
		return fmt.Errorf("list accounts: %w", err)
	}
	now = now.UTC()
	var errs []error
	for k := range lister.Keys() {
		id := strings.TrimPrefix(k, "account.")
		entry, ok := s.reg.Account(id)
		if !ok || entry.Policy.VMI != "scheduled" {
			continue
		}
		cut, err := time.Parse("15:04", entry.Policy.VMICutoff)
		if err != nil {
			continue // Validate forbids it
		}
		due := time.Date(now.Year(), now.Month(), now.Day(), cut.Hour(), cut.Minute(), 0, 0, time.UTC)
		if now.Before(due) {
			continue
		}
		slot := due.Format("2006-01-02T15:04Z")
		if err := s.runClaimed(ctx, id, slot, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runClaimed runs one account's daily slot if this process wins its claim.
func (s *Service) runClaimed(ctx context.Context, account, slot string, now time.Time) error {
	key := "run." + account + "." + strings.NewReplacer(":", "", "-", "").Replace(slot)
	running, _ := json.Marshal(claim{State: "running", At: now})
	rev, err := s.kv.Create(ctx, key, running)
	if err != nil {
		if !bus.IsConflict(err) {
			return fmt.Errorf("claim run %s: %w", key, err)
		}
		e, err := s.kv.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("read run claim %s: %w", key, err)
		}
		var c claim
		_ = json.Unmarshal(e.Value(), &c)
		if c.State == "done" || now.Sub(c.At) < staleClaim {
			return nil // done, or running elsewhere
		}
		if rev, err = s.kv.Update(ctx, key, running, e.Revision()); err != nil {
			if bus.IsConflict(err) {
				return nil // another process took it over first
			}
			return fmt.Errorf("take over run %s: %w", key, err)
		}
	}
	res, err := s.RunAccount(ctx, account, "cutoff-"+slot)
	if err != nil || res.Failed > 0 {
		// Let the next check run it again: the same run id makes the same
		// replenishment ids, so nothing is requested twice.
		_ = s.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		if err == nil {
			err = fmt.Errorf("run %s of account %s: %d positions failed", slot, account, res.Failed)
		}
		return err
	}
	done, _ := json.Marshal(claim{State: "done", At: s.cfg.Now().UTC()})
	if _, err := s.kv.Update(ctx, key, done, rev); err != nil {
		return fmt.Errorf("mark run %s done: %w", key, err)
	}
	s.log.Info("scheduled vmi run", zap.String("account", account), zap.String("slot", slot),
		zap.Int64("evaluated", res.Evaluated), zap.Int64("requested", res.Requested), zap.Int64("ms", res.Millis))
	return nil
}

// RunAccount evaluates every position of an account once, as run `run`, and
// requests one replenishment per position that needs one and has none open.
// Replenishment ids derive from the run id and the position, so running the
// same run again (after a crash, or in two processes) requests nothing twice;
// positions are written with revision checks, so a report arriving meanwhile
// is never lost. It reads positions in batches through one ordered consumer
// (not one request per key), at most RunRate per second when set, and
// evaluates them on RunWorkers goroutines; runs in one process take turns.
func (s *Service) RunAccount(ctx context.Context, account, run string) (RunResult, error) {
	res := RunResult{Account: account, Run: run}
	entry, ok := s.reg.Account(account)
	if !ok {
		return res, accounts.ErrUnknownAccount
	}
	if entry.Policy.VMI == "off" {
		return res, ErrNoVMI
	}
	s.runMu.Lock()
	defer s.runMu.Unlock()
	start := time.Now()
	// The bucket keeps one revision per key, so reading the account's
	// positions in stream order sees each once: a sequential scan, which the
	// server does without the per-subject bookkeeping (under the stream's
	// lock, which the lanes' writes need too) of a last-per-subject watch. A
	// position written after the run began has moved past it and is read at
	// its new place (late); the run reads on until it has caught up. It
	// pulls at most runBatch positions ahead of the workers.
	cause := event.New()
	cause.SetID("vmi-run/" + account + "/" + run)
	cause.SetExtension(bus.ExtAccount, account)

	var evaluated, requested, open, failed atomic.Int64
	entries := make(chan bus.Entry, runBatch)
	g, gctx := errgroup.WithContext(ctx)
	for range s.cfg.RunWorkers {
		g.Go(func() error {
			for e := range entries {
				outcome, err := s.evaluateEntry(ctx, &cause, e)
				if outcome != outcomeSkipped {
					evaluated.Add(1)
				}
				switch {
				case err != nil:
					failed.Add(1)
					s.log.Warn("scheduled evaluation", zap.String("account", account), zap.String("key", e.Key), zap.Error(err))
				case outcome == outcomeRequested:
					requested.Add(1)
				case outcome == outcomeOpen:
					open.Add(1)
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(entries)
		return s.readPositions(gctx, account, entries, start)
	})
	werr := g.Wait()
	res.Evaluated, res.Requested, res.Open, res.Failed = evaluated.Load(), requested.Load(), open.Load(), failed.Load()
	res.Millis = time.Since(start).Milliseconds()
	return res, werr
}

// runBatch bounds the positions a run has pulled ahead of its workers.
const runBatch = 512

// readPositions feeds every position of the account to entries until it
// has caught up, paced to RunRate positions per second when set.
func (s *Service) readPositions(ctx context.Context, account string, entries chan<- bus.Entry, start time.Time) error {
	var read int64
	err := bus.ReadBucket(ctx, s.bus.JetStream(), Bucket, bus.BucketRead{Keys: "pos." + account + ".>", All: true, Batch: runBatch}, func(e bus.Entry) error {
		if e.Deleted {
			return nil
		}
		select {
		case entries <- e:
		case <-ctx.Done():
			return ctx.Err()
		}
		read++
		if s.cfg.RunRate > 0 && read%64 == 0 {
			// Ahead of the rate: wait until the positions read are due.
			if ahead := time.Duration(float64(read)/float64(s.cfg.RunRate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read positions of %s: %w", account, err)
	}
	return nil
}

type outcome int

const (
	outcomeNone outcome = iota
	outcomeRequested
	outcomeOpen
	outcomeSkipped
)

// evaluateEntry evaluates one position read by the run's watch. It writes
// only when a replenishment is due, at the revision it read; on a conflict
// (a report or shipment meanwhile) it reads the position again.
func (s *Service) evaluateEntry(ctx context.Context, cause *event.Event, e bus.Entry) (outcome, error) {
	var p Position
	if err := json.Unmarshal(e.Value, &p); err != nil {
		return outcomeNone, fmt.Errorf("decode position %s: %w", e.Key, err)
	}
	if e.Late && p.Open != nil && p.Open.Cause == cause.ID() {
		return outcomeSkipped, nil // this run's own write, read again
	}
	if p.Open != nil && p.Open.Cause != cause.ID() {
		return outcomeOpen, nil
	}
	entry, ok := s.reg.Account(p.Account)
	if !ok {
		return outcomeNone, nil
	}
	loc, ok := entry.Account.Location(p.Location)
	if !ok {
		return outcomeNone, nil // no longer a location of the account
	}
	now := s.cfg.Now()
	par, err := s.plan(ctx, entry, p.Location, p.GTIN, now)
	if err != nil {
		return outcomeNone, err
	}
	if p.Open == nil && Evaluate(&p, par).Quantity == 0 {
		return outcomeNone, nil
	}
	change := func(p *Position) bool {
		if p.Open != nil {
			return false
		}
		dec := Evaluate(p, par)
		if dec.Quantity == 0 {
			return false
		}
		p.Open = newReplenishment(cause.ID(), p.Location, p.GTIN, loc.Warehouse, now, dec)
		return true
	}
	stored := &p
	if p.Open == nil {
		if change(&p) {
			if err := s.put(ctx, e.Key, &p, e.Revision); err != nil {
				if !bus.IsConflict(err) {
					return outcomeNone, err
				}
				if stored, err = s.update(ctx, e.Key, change); err != nil {
					return outcomeNone, err
				}
			}
		}
	}
	if stored.Open == nil || stored.Open.Cause != cause.ID() {
		if stored.Open != nil {
			return outcomeOpen, nil
		}
		return outcomeNone, nil
	}
	outs, err := s.announce(ctx, cause, stored)
	if err != nil {
		return outcomeNone, err
	}
	if _, err := s.bus.Publish(ctx, outs...); err != nil {
		return outcomeNone, err
	}
	return outcomeRequested, nil
}
