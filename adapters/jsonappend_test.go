package adapters

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// FuzzOrderAppendJSON: an order's hand-written JSON is byte for byte what
// encoding/json writes, whatever its strings and quantities (the golden
// files of the adapters hold the same, for the orders they decode).
func FuzzOrderAppendJSON(f *testing.F) {
	f.Add("PO-1", "0614141000005", "2026-12-15", "00614141123452", 24.0, "EA", "", 1)
	f.Add("<a&b>\"\\\n\t\x01", "\u2028\u2029", "\xff\xfe", "é€😀", 1e21, "KGM", "x", -3)
	f.Add("", "", "", "", 1e-7, "", "", 0)
	f.Add("p", "s", "d", "g", 123456789.125, "u", "", 7)
	f.Add("p", "s", "d", "g", 0.000001, "u", "", 7)
	f.Fuzz(func(t *testing.T, po, shipTo, date, gtin string, qty float64, unit, pickup string, line int) {
		if math.IsNaN(qty) || math.IsInf(qty, 0) {
			return
		}
		for _, o := range []Order{
			{PONumber: po, ShipTo: shipTo, RequestedDate: date, Pickup: pickup,
				Lines: []OrderLine{{Line: line, GTIN: gtin, Quantity: qty, Unit: unit}, {Line: line + 1, GTIN: po, Quantity: -qty / 3, Unit: shipTo}}},
			{PONumber: po},
			{PONumber: po, Lines: []OrderLine{}},
		} {
			want, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.AppendJSON(nil); string(got) != string(want) {
				t.Fatalf("AppendJSON = %s\nencoding/json = %s", got, want)
			}
		}
	})
}

// TestIDIsTheUUIDv5OfFormatSenderTypeAndKey: ids stay what they were when
// uuid.NewSHA1 made them, so a file resent after an upgrade stores nothing
// new.
func TestIDIsTheUUIDv5OfFormatSenderTypeAndKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("PO-0123456789", 40) // past the stack buffer
	for _, tc := range []struct {
		in               Input
		format, typ, key string
		wantSender       string
	}{
		{Input{Account: "acme"}, "x12", "crossdock.order.placed.v1", "po/ACME-4501", "a:acme"},
		{Input{Account: "acme", Warehouse: "dc-west"}, "x12", "crossdock.shipment.dispatched.v1", "856/S-1", "w:dc-west"},
		{Input{}, "", "", "", "a:"},
		{Input{Account: "acme"}, "csv", "crossdock.order.placed.v1", long, "a:acme"},
	} {
		want := uuid.NewSHA1(idNamespace, []byte(tc.format+"\x00"+tc.wantSender+"\x00"+tc.typ+"\x00"+tc.key)).String()
		if got := ID(tc.format, tc.in, tc.typ, tc.key); got != want {
			t.Errorf("ID(%q, %+v, %q, %.20q…) = %s, want %s", tc.format, tc.in, tc.typ, tc.key, got, want)
		}
	}
}

// TestNewEventIsWhatTheSDKsSettersMake: the context NewEvent fills in
// directly (the account extension, a source parsed once for the events of a
// file) is the one event.New and its setters make, for senders one after
// another and for a source that does not parse.
func TestNewEventIsWhatTheSDKsSettersMake(t *testing.T) {
	for _, in := range []Input{{Account: "acme"}, {Account: "acme"}, {Warehouse: "dc-west", Account: "acme"}, {Account: "acme"}, {Account: "%zz"}, {Account: "%zz"}, {Account: "globex"}} {
		got, err := NewEvent("csv", in, in.Account, "crossdock.order.placed.v1", "po/1", Order{PONumber: "1"})
		if err != nil {
			t.Fatal(err)
		}
		want := event.New()
		want.SetID(ID("csv", in, "crossdock.order.placed.v1", "po/1"))
		want.SetType("crossdock.order.placed.v1")
		want.SetSource(in.Source())
		want.SetExtension("account", in.Account)
		if err := want.SetData(event.ApplicationJSON, Order{PONumber: "1"}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("NewEvent for %+v = %+v, the SDK's setters make %+v", in, got, &want)
		}
	}
}
