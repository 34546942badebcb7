package edi

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/adapters/csv"
	"github.com/crossdock/crossdock/adapters/x12"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts/accountstest"
)

// accountsYAML: acme asks for X12, globex for CSV (which writes no answers),
// umbrella for nothing.
const accountsYAML = `warehouses:
  - {id: dc-east}
accounts:
  - {id: acme, name: ACME, tier: strategic, locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}],
     edi: {format: x12, interchange_id: ACMEEDI}}
  - {id: globex, name: Globex, tier: integrated, locations: [{gln: "0614141000029", type: dc, warehouse: dc-east}],
     edi: {format: csv}}
  - {id: umbrella, name: Umbrella, tier: stable, locations: [{gln: "0614141000050", type: dc, warehouse: dc-east}]}
`

func newService(t *testing.T, yaml string) *Service {
	t.Helper()
	b := bustest.New(t, bustest.RunServer(t, ""))
	reg := accountstest.Registry(t, b, yaml)
	formats := adapters.NewRegistry()
	formats.Register(x12.New(x12.Config{}))
	formats.Register(csv.New())
	return New(b, reg, formats, bustest.Logger(t))
}

// accepted is an order.accepted the orders service made for account.
func accepted(t *testing.T, account, id string) *bus.Delivery {
	t.Helper()
	data, err := os.ReadFile("../../schemas/testdata/valid/" + schemas.OrderAccepted + ".json")
	if err != nil {
		t.Fatal(err)
	}
	ev := event.New()
	ev.SetID(id)
	ev.SetType(schemas.OrderAccepted)
	ev.SetSource("/crossdock/orders")
	ev.SetExtension(envelope.ExtAccount, account)
	ev.SetExtension(envelope.ExtCausationID, "po-cause")
	if err := ev.SetData(event.ApplicationJSON, []byte(data)); err != nil {
		t.Fatal(err)
	}
	return &bus.Delivery{Event: &ev, Subject: "xd.out." + account + ".order.accepted", Attempt: 1}
}

func TestHandleWritesAnX12AnswerForAnEDIAccount(t *testing.T) {
	s := newService(t, accountsYAML)
	outs, err := s.Handle(context.Background(), accepted(t, "acme", "acc-1"))
	if err != nil || len(outs) != 1 {
		t.Fatalf("Handle(acme's order.accepted) = %v, %v; want one document", outs, err)
	}
	out := outs[0]
	if out.Subject != "xd.out.acme.edi.document" {
		t.Errorf("subject = %s, want xd.out.acme.edi.document", out.Subject)
	}
	ev := out.Event
	if ev.Type() != schemas.EDIDocument || envelope.Account(ev) != "acme" || envelope.Extension(ev, envelope.ExtCausationID) != "acc-1" {
		t.Errorf("document = type %s, account %s, causationid %s; want an edi.document of acme answering acc-1",
			ev.Type(), envelope.Account(ev), envelope.Extension(ev, envelope.ExtCausationID))
	}
	if got := envelope.Extension(ev, adapters.ExtFormat); got != "x12" {
		t.Errorf("ediformat = %q, want x12", got)
	}
	if got := envelope.Extension(ev, adapters.ExtFor); got != "order.accepted" {
		t.Errorf("edifor = %q, want order.accepted", got)
	}
	doc := string(ev.Data())
	if !strings.HasPrefix(doc, "ISA") || !strings.Contains(doc, "ACMEEDI") || !strings.Contains(doc, "ST*855") {
		t.Errorf("document = %.120q…, want an X12 855 interchange addressed to ACMEEDI", doc)
	}

	again, err := s.Handle(context.Background(), accepted(t, "acme", "acc-1"))
	if err != nil || len(again) != 1 || again[0].Event.ID() != ev.ID() || string(again[0].Event.Data()) != doc {
		t.Errorf("a redelivered event wrote another document (id %s, %v), want the same id and bytes", again[0].Event.ID(), err)
	}
}

func TestHandleWritesNothingWhereNoDocumentIsWanted(t *testing.T) {
	s := newService(t, accountsYAML)
	tests := []struct{ name, account string }{
		{"an account without edi gets no document", "umbrella"},
		{"an account whose format writes no answers gets none, and its event flows on", "globex"},
		{"an account the registry does not know gets none", "hooli"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := s.Handle(context.Background(), accepted(t, tc.account, "acc-"+tc.account))
			if err != nil || len(outs) != 0 {
				t.Errorf("Handle(%s's order.accepted) = %v, %v; want nothing and no error", tc.account, outs, err)
			}
		})
	}
}

func TestSubjectsFollowTheAccountsThatAskForEDI(t *testing.T) {
	s := newService(t, accountsYAML)
	got := s.subjects()
	slices.Sort(got)
	want := []string{
		"xd.out.acme.order.accepted", "xd.out.acme.order.rejected", "xd.out.acme.shipment.dispatched",
		"xd.out.globex.order.accepted", "xd.out.globex.order.rejected", "xd.out.globex.shipment.dispatched",
	}
	if !slices.Equal(got, want) {
		t.Errorf("subjects() = %v, want %v", got, want)
	}

	none := newService(t, `warehouses: [{id: dc-east}]
accounts:
  - {id: umbrella, name: Umbrella, tier: stable, locations: [{gln: "0614141000050", type: dc, warehouse: dc-east}]}
`)
	if got := none.subjects(); len(got) != 1 || !strings.HasPrefix(got[0], "xd.out._none.") {
		t.Errorf("subjects() without EDI accounts = %v, want one subject no account has (an empty filter would take all)", got)
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	seen := map[int]string{}
	for _, id := range []string{"acc-1", "acc-2", "po-417", "", "ev-" + strings.Repeat("x", 200)} {
		c := Control(id)
		if c < 1 || c > 999_999_999 {
			t.Errorf("Control(%q) = %d, want 1 to 999,999,999 (nine digits, ISA13)", id, c)
		}
		if c != Control(id) {
			t.Errorf("Control(%q) changes between calls", id)
		}
		if other, dup := seen[c]; dup {
			t.Errorf("Control(%q) = Control(%q) = %d", id, other, c)
		}
		seen[c] = id
	}
}
