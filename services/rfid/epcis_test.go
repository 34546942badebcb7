package rfid

import (
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
		{"a default observation at an SGLN read point", NewObjectEvent("6f1c1d5e-5f0c-4c43-9b8a-63a4c1f0e7a2", t0, time.Time{}, []string{item}, "", "", dock, "")},
		{"a configured receiving step with a disposition", NewObjectEvent("6f1c1d5e-5f0c-4c43-9b8a-63a4c1f0e7a3", t0.In(tokyo), t0, []string{item, "urn:epc:id:sscc:0614141.1234567890"}, "receiving", "in_progress", dock, "")},
		{"a read point given as a GLN", NewObjectEvent("6f1c1d5e-5f0c-4c43-9b8a-63a4c1f0e7a4", t0, time.Time{}, []string{item}, "https://ref.gs1.org/cbv/BizStep-storing", "", "0614141000005", "")},
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
	good := NewObjectEvent("6f1c1d5e-5f0c-4c43-9b8a-63a4c1f0e7a2", t0, time.Time{}, []string{item}, "", "", dock, "")
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
