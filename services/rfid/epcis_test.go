package rfid

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// epcisSchema compiles testdata/epcis-2.0-objectevent.schema.json with
// format assertions on.
func epcisSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/epcis-2.0-objectevent.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("epcis.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("epcis.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// checkEPCIS validates raw JSON against the EPCIS 2.0 ObjectEvent schema.
func checkEPCIS(t testing.TB, sch *jsonschema.Schema, raw []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("EPCIS event is not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("EPCIS event %s breaks EPCIS 2.0: %v", raw, err)
	}
}

func TestObjectEventsAreEPCIS2(t *testing.T) {
	sch := epcisSchema(t)
	tokyo := time.FixedZone("", 9*3600)
	cases := []struct {
		name string
		ev   ObjectEvent
	}{
		{"a default observation at an SGLN read point", NewObjectEvent(t0, []string{item}, "", "", dock)},
		{"a configured receiving step with a disposition", NewObjectEvent(t0.In(tokyo), []string{item, "urn:epc:id:sscc:0614141.1234567890"}, "receiving", "in_progress", dock)},
		{"a read point given as a GLN", NewObjectEvent(t0, []string{item}, "https://ref.gs1.org/cbv/BizStep-storing", "", "0614141000005")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			checkEPCIS(t, sch, raw)
		})
	}
	if got := cases[1].ev.EventTimeZoneOffset; got != "+09:00" {
		t.Errorf("eventTimeZoneOffset = %s, want the reader's +09:00", got)
	}
}

func TestTheSchemaRefusesWhatEPCISForbids(t *testing.T) {
	sch := epcisSchema(t)
	good := NewObjectEvent(t0, []string{item}, "", "", dock)
	cases := []struct {
		name   string
		change func(m map[string]any)
	}{
		{"an event without action is refused", func(m map[string]any) { delete(m, "action") }},
		{"an unknown action is refused", func(m map[string]any) { m["action"] = "SEE" }},
		{"an offset beyond +14:00 is refused", func(m map[string]any) { m["eventTimeZoneOffset"] = "+15:00" }},
		{"an eventTime without a zone is refused", func(m map[string]any) { m["eventTime"] = "2026-11-24T09:00:00" }},
		{"an OBSERVE with ilmd is refused", func(m map[string]any) { m["ilmd"] = map[string]any{} }},
		{"a readPoint that is a bare string is refused", func(m map[string]any) { m["readPoint"] = dock }},
		{"an event with neither epcList nor quantityList is refused", func(m map[string]any) { delete(m, "epcList") }},
		{"a missing context is refused", func(m map[string]any) { delete(m, "@context") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(good)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			tc.change(m)
			if err := sch.Validate(m); err == nil {
				t.Errorf("schema accepted %v", m)
			}
		})
	}
}

// The reference example of the CBV 2.0 event hash
// (github.com/RalphTro/epcis-event-hash-generator,
// tests/examples/epcisDocWithSingleEvent): an ObjectEvent of two SGTINs,
// shipping, in_transit, at an SGLN read point, with a business transaction
// our events do not carry.
const (
	refPreHash = "eventType=ObjectEventeventTime=2022-02-17T02:33:31.116ZeventTimeZoneOffset=-06:00" +
		"epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018" +
		"action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingdisposition=https://ref.gs1.org/cbv/Disp-in_transit" +
		"readPointid=https://id.gs1.org/414/0614141073467/254/1234"
	refTransaction = "bizTransactionListbizTransaction=http://transaction.acme.com/po/12345678type=https://ref.gs1.org/cbv/BTT-po"
	refHash        = "ni:///sha-256;3e0f2437f4cb5e8a1b832b769c0eed1bf3e1421f14061132e9800ded03f10182?ver=CBV2.0"
)

func TestEventHashFollowsTheReferenceExample(t *testing.T) {
	chicago := time.FixedZone("", -6*3600)
	ev := ObjectEvent{
		Type:                "ObjectEvent",
		EventTime:           time.Date(2022, 2, 16, 20, 33, 31, 116e6, chicago).UTC().Format(eventTimeLayout),
		EventTimeZoneOffset: "-06:00",
		EPCList:             []string{"urn:epc:id:sgtin:0614141.107346.2018", "urn:epc:id:sgtin:0614141.107346.2017"},
		Action:              "OBSERVE",
		BizStep:             "shipping",
		Disposition:         "in_transit",
		ReadPoint:           &IDRef{ID: "urn:epc:id:sgln:0614141.07346.1234"},
	}
	if got := preHash(&ev); got != refPreHash {
		t.Errorf("pre-hash string\n got %s\nwant %s", got, refPreHash)
	}
	sum := sha256.Sum256([]byte(refPreHash + refTransaction))
	if got := "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0"; got != refHash {
		t.Errorf("hash of the reference pre-hash = %s, want %s", got, refHash)
	}
	if id := HashID(&ev); !strings.HasPrefix(id, "ni:///sha-256;") || !strings.HasSuffix(id, "?ver=CBV2.0") || len(id) != len(refHash) {
		t.Errorf("HashID = %s, want ni:///sha-256;<64 hex>?ver=CBV2.0", id)
	}
}

func TestEventHashIgnoresSyntax(t *testing.T) {
	a := NewObjectEvent(t0, []string{item, "urn:epc:id:sscc:0614141.1234567890"}, "observing", "", dock)
	b := NewObjectEvent(t0.In(time.FixedZone("", 0)), []string{"urn:epc:id:sscc:0614141.1234567890", item}, "urn:epcglobal:cbv:bizstep:observing", "", dock)
	if a.EventID != b.EventID {
		t.Errorf("the same event written two ways has ids %s and %s", a.EventID, b.EventID)
	}
	c := NewObjectEvent(t0.Add(time.Millisecond), []string{item, "urn:epc:id:sscc:0614141.1234567890"}, "observing", "", dock)
	if c.EventID == a.EventID {
		t.Errorf("events a millisecond apart share the id %s", a.EventID)
	}
}

func TestLocationDigitalLink(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"an SGLN with an alphanumeric extension", "urn:epc:id:sgln:0614141.00000.dock3", "https://id.gs1.org/414/0614141000005/254/dock3"},
		{"an SGLN with extension 0 is the GLN", "urn:epc:id:sgln:0614141.00000.0", "https://id.gs1.org/414/0614141000005"},
		{"an escaped extension is escaped for Digital Link", "urn:epc:id:sgln:0614141.00000.a%2Fb", "https://id.gs1.org/414/0614141000005/254/a%2Fb"},
		{"a Digital Link stays as it is", "https://id.gs1.org/414/0614141000005", "https://id.gs1.org/414/0614141000005"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := locationDigitalLink(tc.in); got != tc.want {
				t.Errorf("locationDigitalLink(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
