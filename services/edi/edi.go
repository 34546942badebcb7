// Package edi answers accounts that speak a partner format in that format:
// it follows the account's outbound events in XD_OUT and, for an account
// whose accounts-file entry asks for EDI (edi: {format: x12}), writes each
// order.accepted, order.rejected and shipment.dispatched as a document of
// the format (X12: 855, 856) with the format's adapter, published as a
// crossdock.edi.document.v1 on xd.out.<account>.edi.document. It runs with
// the gateway, which reads the same formats inbound.
package edi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"go.uber.org/zap"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

const source = "/crossdock/edi"

// answered are the events an EDI account gets as documents too.
var answered = []string{"order.accepted", "order.rejected", "shipment.dispatched"}

// Service writes EDI documents for the accounts that ask for them.
type Service struct {
	bus     *bus.Bus
	reg     *accounts.Registry
	formats *adapters.Registry
	log     *zap.Logger
}

// New returns the service; formats are the adapters it may encode with.
func New(b *bus.Bus, reg *accounts.Registry, formats *adapters.Registry, log *zap.Logger) *Service {
	return &Service{bus: b, reg: reg, formats: formats, log: log}
}

// Run follows XD_OUT until ctx ends. Its consumer is filtered on the
// answers of the accounts that ask for EDI, so every other account's
// answers are never delivered to it.
func (s *Service) Run(ctx context.Context) error {
	return s.bus.Consume(ctx, bus.ConsumerConfig{
		Stream:  bus.StreamOut,
		Durable: "edi",
		Follow:  &bus.Follower{Want: s.subjects},
		Source:  source,
		Workers: 2,
	}, s.Handle)
}

// subjects is the edi consumer's filter: the answers of the accounts with
// an EDI configuration.
func (s *Service) subjects() []string {
	var out []string
	for _, id := range s.reg.Select(func(e *accounts.Entry) bool { return e.Account.EDI != nil }) {
		for _, name := range answered {
			out = append(out, bus.OutSubject(id, name))
		}
	}
	if len(out) == 0 {
		return []string{bus.OutSubject("_none", answered[0])} // no account has the "_none" id
	}
	return out
}

// Handle writes the document for one outbound event, or nothing when its
// account does not ask for EDI.
func (s *Service) Handle(_ context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	account := bus.Account(d.Event)
	entry, ok := s.reg.Account(account)
	if !ok || entry.Account.EDI == nil {
		return nil, nil
	}
	cfg := entry.Account.EDI
	a, ok := s.formats.Lookup(cfg.Format)
	enc, encodes := a.(adapters.Encoder)
	if !ok || !encodes {
		// A configuration error, not the event's: keep the event flowing
		// and say so where an operator looks.
		s.log.Error("account asks for EDI in a format with no encoder", zap.String("account", account), zap.String("format", cfg.Format))
		return nil, nil
	}
	doc, err := enc.Encode([]*event.Event{d.Event}, adapters.Party{
		Account: account, Control: Control(d.Event.ID()), InterchangeID: cfg.InterchangeID, Qualifier: cfg.Qualifier,
	})
	if err != nil {
		return nil, bus.Reject(bus.CodeProcessingFailed, fmt.Sprintf("write %s for %s: %v", cfg.Format, d.Event.Type(), err), "")
	}
	out, err := adapters.NewDocument(d.Event, source, cfg.Format, bus.Name(d.Event.Type()), adapters.ContentType(a), doc)
	if err != nil {
		return nil, err
	}
	return []bus.Outgoing{{Subject: bus.OutSubject(account, bus.Name(adapters.TypeDocument)), Event: out}}, nil
}

// Control is the interchange control number of the document answering the
// event with this id: derived from the id (1 to 999,999,999), so a
// redelivered event is written with the same number, and two events with
// different ids almost never share one.
func Control(eventID string) int {
	sum := sha256.Sum256([]byte(eventID))
	return int(binary.BigEndian.Uint32(sum[:4])%999_999_999) + 1
}
