package bus_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus"
)

func TestScanReadsWhatIsThereFromWhereAsked(t *testing.T) {
	h := newHub(t)
	ctx := context.Background()
	out := func(subject, id string) uint64 {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Header.Set("ce-id", id)
		ack, err := h.js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	out("xd.out.acme.order.accepted", "a1")
	out("xd.out.globex.order.accepted", "g1")
	third := out("xd.out.acme.order.shipped", "a2")
	out("xd.out.acme.order.shipped", "a3")
	raw, err := h.js.Stream(ctx, bus.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	m3, err := raw.GetMsg(ctx, third)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		from   bus.From
		stopAt string // fn returns false on this id
		want   []string
	}{
		{name: "everything on the filter, in stream order", want: []string{"a1", "a2", "a3"}},
		{name: "from a sequence", from: bus.From{Seq: third}, want: []string{"a2", "a3"}},
		{name: "from a time", from: bus.From{Time: m3.Time}, want: []string{"a2", "a3"}},
		{name: "until fn says stop", stopAt: "a2", want: []string{"a1", "a2"}},
		{name: "nothing past the end", from: bus.From{Seq: 99}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := bus.Scan(ctx, h.js, bus.StreamOut, []string{"xd.out.acme.>"}, tc.from, func(m jetstream.Msg, _ uint64) bool {
				id := m.Headers().Get("ce-id")
				got = append(got, id)
				return id != tc.stopAt
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Scan(from %+v) = %q, want %q", tc.from, got, tc.want)
			}
		})
	}

	t.Run("what is stored during the scan is not read", func(t *testing.T) {
		var got []string
		err := bus.Scan(ctx, h.js, bus.StreamOut, []string{"xd.out.acme.>"}, bus.From{}, func(m jetstream.Msg, seq uint64) bool {
			got = append(got, m.Headers().Get("ce-id"))
			if len(got) == 1 {
				out("xd.out.acme.order.shipped", "late")
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a1", "a2", "a3"}; !slices.Equal(got, want) {
			t.Errorf("Scan = %q, want %q", got, want)
		}
	})
}
