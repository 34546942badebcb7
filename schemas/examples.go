package schemas

import (
	"embed"
	"path"
)

// The valid examples the schema tests check are also the catalogue's
// examples (one per event type), so an example shown to a customer is one
// the validator passes.
//
//go:embed testdata/valid/*.json
var examples embed.FS

// Example returns the example data of eventType (a copy), and whether there
// is one.
func Example(eventType string) ([]byte, bool) {
	b, err := examples.ReadFile(path.Join("testdata/valid", eventType+".json"))
	if err != nil {
		return nil, false
	}
	return b, true
}
