package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

func (s *Service) releaseLoop(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ReleaseEvery)
	defer t.Stop()
	for {
		if err := s.ReleaseDue(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("release held orders", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ReleaseDue accepts every held order whose ordering day has come by now: it moves
// the order to accepted, then sends order.accepted and fulfillment.requested.
// It is safe to run in several processes at once: the state moves by
// revision check, and the answers' ids are derived from the placing event, so
// a release announced twice is stored once.
func (s *Service) ReleaseDue(ctx context.Context, now time.Time) error {
	lister, err := s.kv.ListKeysFiltered(ctx, "held.>")
	if err != nil {
		return fmt.Errorf("list held orders: %w", err)
	}
	now = now.UTC()
	var errs []error
	for k := range lister.Keys() {
		if err := s.release(ctx, k, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) release(ctx context.Context, heldKey string, now time.Time) error {
	ref, err := s.kv.Get(ctx, heldKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // released by another process meanwhile
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", heldKey, err)
	}
	key := string(ref.Value())
	o, rev, err := s.get(ctx, key)
	if err != nil {
		return err
	}
	if o != nil && o.State == StateHeld {
		if now.Before(*o.ReleaseAt) {
			return nil
		}
		o.State = StateAccepted
		o.History = append(o.History, Change{At: now, State: StateAccepted, EventID: o.PlacedEventID, Note: "released on its ordering day"})
		if err := s.put(ctx, key, o, true, rev); err != nil {
			return err
		}
		s.log.Info("held order released", zap.String("account", o.Account), zap.String("po", o.PONumber))
	}
	if o != nil && (o.State == StateAccepted || o.State == StateShipped) {
		outs, err := s.acceptance(causeOf(o), o)
		if err != nil {
			return err
		}
		if _, err := s.bus.Publish(ctx, outs...); err != nil {
			return fmt.Errorf("announce released order %s: %w", o.PONumber, err)
		}
	}
	if err := s.kv.Delete(ctx, heldKey); err != nil {
		return fmt.Errorf("unlist %s: %w", heldKey, err)
	}
	return nil
}
