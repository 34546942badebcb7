package bus_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

// bucket is a KV bucket keeping five revisions a key, on the hub's server.
func (h *hub) bucket(t *testing.T, name string) jetstream.KeyValue {
	t.Helper()
	kv, err := h.b.Bucket(context.Background(), name, "test bucket", 5)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// put writes key=value and returns the revision.
func put(t *testing.T, kv jetstream.KeyValue, key, value string) uint64 {
	t.Helper()
	rev, err := kv.PutString(context.Background(), key, value)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// read is ReadBucket's entries as "key=value" ("key deleted" for a delete,
// a trailing " late" for a late one).
func read(t *testing.T, h *hub, bucket string, r bus.BucketRead) []string {
	t.Helper()
	var got []string
	err := bus.ReadBucket(context.Background(), h.b.JetStream(), bucket, r, func(e bus.Entry) error {
		s := e.Key + "=" + string(e.Value)
		if e.Deleted {
			s = e.Key + " deleted"
		}
		if e.Late {
			s += " late"
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadBucket(%s, %+v) = %v", bucket, r, err)
	}
	return got
}

func TestReadBucketGivesTheRevisionsAsked(t *testing.T) {
	h := newHub(t)
	kv := h.bucket(t, "orders")
	put(t, kv, "po.acme.1", "placed")
	put(t, kv, "po.globex.1", "placed")
	put(t, kv, "po.acme.2", "placed")
	shipped := put(t, kv, "po.acme.1", "shipped")
	put(t, kv, "po.acme.3", "placed")
	if err := kv.Delete(context.Background(), "po.acme.3"); err != nil {
		t.Fatal(err)
	}
	e, err := kv.GetRevision(context.Background(), "po.acme.1", shipped)
	if err != nil {
		t.Fatal(err)
	}
	since := e.Created()

	tests := []struct {
		name string
		read bus.BucketRead
		want []string
	}{
		{name: "the latest revision of each of the account's keys, deletes marked",
			read: bus.BucketRead{Keys: "po.acme.>"},
			want: []string{"po.acme.2=placed", "po.acme.1=shipped", "po.acme.3 deleted"}},
		{name: "every revision in the order written",
			read: bus.BucketRead{Keys: "po.acme.>", All: true, Batch: 2},
			want: []string{"po.acme.1=placed", "po.acme.2=placed", "po.acme.1=shipped", "po.acme.3=placed", "po.acme.3 deleted"}},
		{name: "only what was written since a time",
			read: bus.BucketRead{Keys: "po.acme.>", Since: since},
			want: []string{"po.acme.1=shipped", "po.acme.3=placed", "po.acme.3 deleted"}},
		{name: "every key when no keys are named",
			read: bus.BucketRead{},
			want: []string{"po.globex.1=placed", "po.acme.2=placed", "po.acme.1=shipped", "po.acme.3 deleted"}},
		{name: "nothing, at once, for keys never written",
			read: bus.BucketRead{Keys: "po.initech.>"}},
		{name: "nothing, at once, when nothing was written since",
			read: bus.BucketRead{Keys: "po.globex.>", Since: since}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := read(t, h, "orders", tc.read); !slices.Equal(got, tc.want) {
				t.Errorf("ReadBucket(%+v) = %q, want %q", tc.read, got, tc.want)
			}
		})
	}
}

// TestReadBucketMarksWhatIsWrittenDuringTheReadLate moves a key while one
// of 30 is handled: the read, 10 keys ahead at most, goes on to its new
// place and marks it late, also when the key handled is the last (the
// server had said nothing more was pending when it delivered it).
func TestReadBucketMarksWhatIsWrittenDuringTheReadLate(t *testing.T) {
	for _, during := range []string{"pos.acme.00", "pos.acme.29"} {
		t.Run("while "+during+" is handled", func(t *testing.T) {
			h := newHub(t)
			kv := h.bucket(t, "positions")
			for i := range 30 {
				put(t, kv, fmt.Sprintf("pos.acme.%02d", i), "a")
			}
			var got []string
			err := bus.ReadBucket(context.Background(), h.b.JetStream(), "positions", bus.BucketRead{Keys: "pos.acme.>", All: true, Batch: 10}, func(e bus.Entry) error {
				if e.Key == during && !e.Late {
					put(t, kv, "pos.acme.00", "moved")
				}
				if e.Late || e.Key == "pos.acme.29" {
					got = append(got, fmt.Sprintf("%s=%s late=%v", e.Key, e.Value, e.Late))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"pos.acme.29=a late=false", "pos.acme.00=moved late=true"}
			if !slices.Equal(got, want) {
				t.Errorf("read %q, want %q", got, want)
			}
		})
	}
}

func TestReadBucketStopsAtTheFirstErrorOfFn(t *testing.T) {
	h := newHub(t)
	kv := h.bucket(t, "orders")
	put(t, kv, "po.acme.1", "a")
	put(t, kv, "po.acme.2", "b")
	stop := fmt.Errorf("enough")
	n := 0
	err := bus.ReadBucket(context.Background(), h.b.JetStream(), "orders", bus.BucketRead{}, func(bus.Entry) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("ReadBucket = %v after %d entries, want %v after 1", err, n, stop)
	}
}
