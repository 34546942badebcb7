package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// HeaderExperiment names the experiment on a mirrored event.
const HeaderExperiment = "Crossdock-Experiment"

// Selected reports whether the event with this id is in the experiment's
// share. The choice hashes the experiment's name with the id (SHA-256, first
// 8 bytes as a fraction of 2^64), so it is the same in every process and on
// every redelivery, and two experiments of one account draw independent
// samples.
func Selected(experiment, eventID string, share float64) bool {
	if share >= 1 {
		return true
	}
	if share <= 0 {
		return false
	}
	sum := sha256.Sum256([]byte(experiment + "\x00" + eventID))
	x := binary.BigEndian.Uint64(sum[:8])
	return float64(x) < share*(1<<64)
}

// Matches reports whether an experiment takes events of type eventType: its
// types name the event (order.accepted), the full type
// (crossdock.order.accepted.v1) or "*".
func Matches(e accounts.Experiment, eventType string) bool {
	name := bus.Name(eventType)
	return slices.ContainsFunc(e.Types, func(t string) bool {
		return t == "*" || t == eventType || t == name
	})
}

// Mirrors returns where ev is mirrored for account entry e: one subject per
// experiment that matches and selects it, none unless the account's policy
// allows experiments. It is the experiment mirror's whole decision.
func Mirrors(e *accounts.Entry, ev *event.Event) []string {
	if e == nil || e.Policy.Experiments != "allowed" {
		return nil
	}
	var out []string
	for _, x := range e.Account.Experiments {
		if Matches(x, ev.Type()) && Selected(x.Name, ev.ID(), x.Share) {
			out = append(out, bus.ExperimentSubject(e.Account.ID, x.Name, bus.Name(ev.Type())))
		}
	}
	return out
}

// mirror runs the experiment mirror: two durable consumers, one on the
// checked incoming events (XD_ROUTED) and one on the outgoing ones (XD_OUT,
// xd.out.> only, so mirrors are never mirrored), each copying the selected
// share of an account's events to its experiment subjects. It reads the
// streams beside the services and changes nothing they do. Both are
// filtered on the accounts that run experiments (experimenting), so the
// others' events cost the mirror nothing; an experiment added later sees
// events from then on.
func (s *Service) mirror(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range []struct {
		stream, durable string
		subject         func(account string) string
	}{
		{bus.StreamRouted, "delivery-mirror-in", func(a string) string { return bus.RoutedSubject("*", a, ">") }},
		{bus.StreamOut, "delivery-mirror-out", func(a string) string { return bus.OutSubject(a, ">") }},
	} {
		follow := func() []string {
			ids := s.reg.Select(experimenting)
			if len(ids) == 0 {
				ids = []string{"_none"} // no account has this id
			}
			out := make([]string, len(ids))
			for i, id := range ids {
				out[i] = c.subject(id)
			}
			return out
		}
		cfg := bus.ConsumerConfig{Stream: c.stream, Durable: c.durable, Follow: &bus.Follower{Want: follow}, Source: Source, Workers: 2}
		g.Go(func() error { return s.bus.Consume(ctx, cfg, s.mirrorOne) })
	}
	return g.Wait()
}

// experimenting reports whether an account has experiments that its policy
// lets run.
func experimenting(e *accounts.Entry) bool {
	return e.Policy.Experiments == "allowed" && len(e.Account.Experiments) > 0
}

// mirrorOne copies one event to its experiments. The copy keeps the event's
// id and attributes; its Nats-Msg-Id is scoped by the experiment, so a
// redelivery stores it once.
func (s *Service) mirrorOne(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	e, ok := s.reg.Account(bus.Account(d.Event))
	if !ok {
		return nil, nil // not an account's event (a warehouse's), or gone
	}
	for _, subj := range Mirrors(e, d.Event) {
		m := bus.Encode(subj, d.Event)
		m.Header.Set(HeaderExperiment, subj)
		if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID("exp:"+subj+":"+bus.MsgID(d.Event))); err != nil {
			return nil, fmt.Errorf("mirror %s to %s: %w", d.Event.ID(), subj, err)
		}
	}
	return nil, nil
}
