package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/crossdock/crossdock/bus"
)

// TestCatchup reads a stretch of XD_IN as the router's sweep does: only
// the messages in range that it is asked for, settled as Consume settles
// them, and a transient failure holds the position before it.
func TestCatchup(t *testing.T) {
	h := newHub(t)
	var seqs []uint64
	for _, id := range []string{"po-1", "po-2", "po-3", "po-4", "po-5"} {
		seqs = append(seqs, h.publishEvent(t, "xd.in.acme.order.placed", orderPlaced(t, id)))
	}
	other := h.publishEvent(t, "xd.in.globex.order.placed", newEvent(t, "g-1", bus.Type("order.placed"), "/accounts/globex", "globex", orderData()))
	cfg := config("sweep")
	cfg.Subjects = []string{"xd.in.acme.>"}
	ctx := context.Background()

	t.Run("only the messages in range and wanted are handled, outputs stored and rejections dead-lettered", func(t *testing.T) {
		var seen calls
		attempts := map[uint64]int{}
		done, err := h.b.Catchup(ctx, cfg, seqs[0], other, attempts, func(_ string, seq uint64) bool { return seq != seqs[2] },
			func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
				seen.add(d)
				if d.Event.ID() == "po-4" {
					return nil, bus.Reject(bus.CodeSchemaViolation, "no lines", "lines")
				}
				return accept(ctx, d)
			})
		if err != nil || done != other {
			t.Fatalf("Catchup = %d, %v; want %d, nil", done, err, other)
		}
		if _, ids := seen.get(); !slices.Equal(ids, []string{"po-2", "po-4", "po-5"}) {
			t.Errorf("handled %v, want po-2, po-4, po-5 in order (po-1 before the range, po-3 not wanted, g-1 not on the subjects)", ids)
		}
		if n := h.count(t, bus.StreamOut, "xd.out.acme.order.accepted"); n != 2 {
			t.Errorf("%d answers stored, want 2", n)
		}
		h.last(t, bus.StreamDLQ, "xd.dlq.acme.schema_violation")
		h.last(t, bus.StreamOut, "xd.out.acme.event.rejected")
	})

	t.Run("a transient failure stops the position before it until the last attempt dead-letters it", func(t *testing.T) {
		cfg := cfg
		cfg.Durable = "sweep-2"
		attempts := map[uint64]int{}
		flaky := func(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
			if d.Event.ID() == "po-3" {
				return nil, errors.New("store away")
			}
			return accept(ctx, d)
		}
		for attempt := 1; attempt < cfg.MaxDeliver; attempt++ {
			done, err := h.b.Catchup(ctx, cfg, seqs[0], seqs[4], attempts, nil, flaky)
			if err != nil || done != seqs[1] {
				t.Fatalf("attempt %d: Catchup = %d, %v; want %d (before po-3), nil", attempt, done, err, seqs[1])
			}
			if attempts[seqs[2]] != attempt {
				t.Fatalf("attempt %d: attempts = %v, want po-3 (#%d) counted %d", attempt, attempts, seqs[2], attempt)
			}
		}
		done, err := h.b.Catchup(ctx, cfg, seqs[0], seqs[4], attempts, nil, flaky)
		if err != nil || done != seqs[4] {
			t.Fatalf("last attempt: Catchup = %d, %v; want %d, nil", done, err, seqs[4])
		}
		if len(attempts) != 0 {
			t.Errorf("attempts = %v after the position passed them, want none", attempts)
		}
		h.last(t, bus.StreamDLQ, "xd.dlq.acme.processing_failed")
	})

	t.Run("nothing in range reads nothing", func(t *testing.T) {
		done, err := h.b.Catchup(ctx, cfg, other, other, map[uint64]int{}, nil, func(context.Context, *bus.Delivery) ([]bus.Outgoing, error) {
			t.Error("handler called")
			return nil, nil
		})
		if err != nil || done != other {
			t.Errorf("Catchup = %d, %v; want %d, nil", done, err, other)
		}
	})
}
