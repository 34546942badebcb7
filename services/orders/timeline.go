package orders

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/edi"
)

// Kinds of timeline steps.
const (
	StepPlaced      = "placed"                // the order came in (Channel says how)
	StepAccepted    = "accepted"              // accepted at once, or released on its ordering day
	StepHeld        = "held"                  // held until ReleaseAt
	StepRejected    = "rejected"              // rejected, with Reasons
	StepFulfillment = "fulfillment_requested" // the serving warehouse was asked to fulfil
	StepShipped     = "shipped"               // a shipment against the order (Shipment)
	StepDocument    = "edi_document"          // an EDI document answering a step (Document)
	StepRFID        = "rfid_observed"         // a tag of a shipment was read (Observation)
)

// Step is one entry of an order's timeline.
type Step struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	EventID string    `json:"event_id,omitempty"` // the event of the step, where there is one
	// Channel is how the order came in, for placed.
	Channel string `json:"channel,omitempty"`
	// Warehouse is the serving warehouse, for accepted and fulfillment_requested.
	Warehouse string `json:"warehouse,omitempty"`
	// ReleaseAt is when a held order is released.
	ReleaseAt *time.Time `json:"release_at,omitempty"`
	// Reasons are a rejection's problems (for an earlier rejection of a PO
	// placed again, its Note says them).
	Reasons     []bus.Problem `json:"reasons,omitempty"`
	Note        string        `json:"note,omitempty"`
	Shipment    *Dispatch     `json:"shipment,omitempty"`
	Document    *Document     `json:"document,omitempty"`
	Observation *TagRead      `json:"observation,omitempty"`
}

// Document is an EDI document the hub writes for an account that asks for
// EDI (accounts file edi:), answering a step: for X12 an 855 for the
// acceptance or rejection and an 856 for each shipment.
type Document struct {
	Format  string `json:"format"`  // the adapter's format, e.g. x12
	Type    string `json:"type"`    // 855 or 856 for X12; else the event it renders
	Answers string `json:"answers"` // the event it renders: order.accepted, order.rejected, shipment.dispatched
	EventID string `json:"event_id"`
	// Control is its interchange control number (X12 ISA13, GS06, ST02),
	// derived from the answered event's id as the edi service derives it.
	Control int `json:"control"`
}

// TagRead is one RFID observation of a tag of a shipment.
type TagRead struct {
	EPC       string    `json:"epc"` // pure identity URI
	ReadPoint string    `json:"read_point"`
	Reader    string    `json:"reader,omitempty"`
	Time      time.Time `json:"time"`
}

// TagReads returns the observations of an account's EPC (a pure identity
// URI), none when it was never read. The hub passes the rfid service's.
type TagReads func(ctx context.Context, account, uri string) ([]TagRead, error)

// Tracked is an order with its timeline: the answer of GET
// /v1/orders/{po_number} and the portal's order page.
type Tracked struct {
	Order
	Timeline []Step `json:"timeline"`
}

// Timeline returns the account's order with this PO number and its
// timeline, oldest step first; nil when the account has no such order
// (another account's PO is never found). It reads the order's entry, the
// account's EDI configuration and, for shipments with an SSCC, the RFID
// tracks of the shipment's tag: a handful of reads whatever the account's
// volume.
func (s *Service) Timeline(ctx context.Context, account, po string) (*Tracked, error) {
	o, _, err := s.get(ctx, orderKey(account, po))
	if err != nil || o == nil {
		return nil, err
	}
	var cfg *accounts.EDI
	if e, ok := s.reg.Account(account); ok {
		cfg = e.Account.EDI
	}
	steps := Steps(o, cfg)
	if s.cfg.Tags != nil {
		for _, d := range o.Dispatches {
			if d.SSCC == "" {
				continue
			}
			for _, uri := range SSCCURIs(d.SSCC) {
				reads, err := s.cfg.Tags(ctx, account, uri)
				if err != nil {
					return nil, fmt.Errorf("timeline of %s: tag %s: %w", po, uri, err)
				}
				for _, r := range reads {
					steps = append(steps, Step{At: r.Time, Kind: StepRFID, Observation: &r})
				}
			}
		}
		sortSteps(steps)
	}
	return &Tracked{Order: *o, Timeline: steps}, nil
}

// Steps is the pure part of the timeline: the order's history, its
// fulfilment request, shipments and, for an account with EDI (cfg not nil),
// the documents answering them. History entries are by the time JetStream
// stored their cause; documents and fulfilment requests are made when
// their cause is handled and carry its time.
func Steps(o *Order, cfg *accounts.EDI) []Step {
	var steps []Step
	doc := func(at time.Time, answers, causeID, eventID string) {
		if cfg == nil {
			return
		}
		d := &Document{Format: cfg.Format, Type: answers, Answers: answers, EventID: eventID, Control: edi.Control(eventID)}
		if cfg.Format == "x12" {
			d.Type = map[string]string{"order.accepted": "855", "order.rejected": "855", "shipment.dispatched": "856"}[answers]
		}
		steps = append(steps, Step{At: at, Kind: StepDocument, EventID: causeID, Document: d})
	}
	accepted := func(c Change, note string) {
		steps = append(steps, Step{At: c.At, Kind: StepAccepted, EventID: c.EventID, Warehouse: o.Warehouse, Note: note})
		steps = append(steps, Step{At: c.At, Kind: StepFulfillment, Warehouse: o.Warehouse,
			EventID: bus.DeriveID(o.PlacedEventID, typeFulfillment+"/")})
		doc(c.At, "order.accepted", c.EventID, bus.DeriveID(o.PlacedEventID, typeAccepted+"/"))
	}
	dispatches := map[string]*Dispatch{}
	for i := range o.Dispatches {
		dispatches[o.Dispatches[i].EventID] = &o.Dispatches[i]
	}
	for i, c := range o.History {
		// A placement is a state entry whose event differs from the one
		// before (a release or a shipment keeps or brings its own).
		placement := c.State != StateShipped && (i == 0 || c.Note != releasedNote)
		switch {
		case c.State == StateShipped:
			st := Step{At: c.At, Kind: StepShipped, EventID: c.EventID, Note: c.Note, Shipment: dispatches[c.EventID]}
			steps = append(steps, st)
			doc(c.At, "shipment.dispatched", c.EventID, c.EventID)
			continue
		case placement:
			ch := ""
			if c.EventID == o.PlacedEventID {
				ch = o.Channel
			}
			steps = append(steps, Step{At: c.At, Kind: StepPlaced, EventID: c.EventID, Channel: ch})
		}
		switch c.State {
		case StateAccepted:
			note := ""
			if !placement {
				note = c.Note
			}
			accepted(c, note)
		case StateHeld:
			st := Step{At: c.At, Kind: StepHeld, EventID: c.EventID, Note: c.Note}
			if c.EventID == o.PlacedEventID && o.ReleaseAt != nil {
				at := *o.ReleaseAt
				st.ReleaseAt = &at
			}
			steps = append(steps, st)
		case StateRejected:
			st := Step{At: c.At, Kind: StepRejected, EventID: c.EventID, Note: c.Note}
			if c.EventID == o.PlacedEventID && o.State == StateRejected {
				st.Reasons, st.Note = o.Reasons, ""
			}
			steps = append(steps, st)
			doc(c.At, "order.rejected", c.EventID, bus.DeriveID(c.EventID, typeRejected+"/"))
		}
	}
	sortSteps(steps)
	return steps
}

// releasedNote is the note of a held order's release (release.go).
const releasedNote = "released on its ordering day"

// sortSteps orders steps by time, keeping the order of equal times.
func sortSteps(steps []Step) {
	slices.SortStableFunc(steps, func(a, b Step) int { return a.At.Compare(b.At) })
}

// SSCCURIs returns the EPC pure identity URIs an SSCC (18 digits) can be
// written as, one per GS1 company prefix length (TDS 2.1 section 14.5.2,
// SSCC-96 partition table: 6 to 12 digits): the SSCC alone does not say how
// long its company prefix is, an encoded tag does. None when sscc is not 18
// digits.
func SSCCURIs(sscc string) []string {
	if len(sscc) != 18 || strings.Trim(sscc, "0123456789") != "" {
		return nil
	}
	ext, body := sscc[:1], sscc[1:17] // the 18th digit is the check digit
	var out []string
	for l := 12; l >= 6; l-- {
		out = append(out, "urn:epc:id:sscc:"+body[:l]+"."+ext+body[l:])
	}
	return out
}
