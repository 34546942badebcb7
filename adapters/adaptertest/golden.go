package adaptertest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/problem"
)

var update = flag.Bool("update", false, "rewrite the golden files of adapter tests")

// goldenEvent is how a decoded event is written in a golden file.
type goldenEvent struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Source  string          `json:"source"`
	Account string          `json:"account,omitempty"`
	Data    json.RawMessage `json:"data"`
}

type golden struct {
	Events []goldenEvent     `json:"events"`
	Errors []problem.Problem `json:"errors,omitempty"`
}

// Golden decodes every file matching pattern (e.g. "testdata/*.edi") for in's
// sender and compares events and problems with <file>.golden.json beside it;
// go test -update rewrites the golden files.
func Golden(t *testing.T, a adapters.Adapter, pattern string, in adapters.Input) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs match %s (%v)", pattern, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in := in
			in.Data = data
			evs, derr := a.Decode(in)
			CompareGolden(t, strings.TrimSuffix(f, filepath.Ext(f))+".golden.json", Render(evs, derr))
		})
	}
}

// CompareGolden compares got with the file at path, or with -update writes
// it: for encoders' output and other golden files of adapter tests.
func CompareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s", path, got)
	}
}

// Render writes events and the problems of err as indented JSON, the format
// of golden files.
func Render(evs []*event.Event, err error) []byte {
	g := golden{Events: []goldenEvent{}, Errors: adapters.Problems(err)}
	for _, ev := range evs {
		g.Events = append(g.Events, goldenEvent{ID: ev.ID(), Type: ev.Type(), Source: ev.Source(), Account: envelope.Account(ev), Data: ev.Data()})
	}
	b, _ := json.MarshalIndent(g, "", "  ")
	return append(b, '\n')
}
