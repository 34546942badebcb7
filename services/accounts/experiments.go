package accounts

import (
	"fmt"
	"math"
	"strings"
)

// checkExperiments reports the first thing wrong with an account's
// experiments, naming the entry and key.
func checkExperiments(exps []Experiment) error {
	names := map[string]bool{}
	for i, e := range exps {
		at := fmt.Sprintf("experiments[%d]", i)
		if !ValidID(e.Name) {
			return fmt.Errorf("%s.name %q: want 1 to 32 of a-z, 0-9 and -", at, e.Name)
		}
		if names[e.Name] {
			return fmt.Errorf("%s.name %q: named twice", at, e.Name)
		}
		names[e.Name] = true
		if len(e.Types) == 0 {
			return fmt.Errorf("%s.types: name at least one event (order.accepted) or \"*\"", at)
		}
		for j, t := range e.Types {
			if t == "" || strings.ContainsAny(t, " *>\t") && t != "*" {
				return fmt.Errorf("%s.types[%d] %q: want an event name such as order.accepted, a type, or \"*\"", at, j, t)
			}
		}
		if math.IsNaN(e.Share) || e.Share <= 0 || e.Share > 1 {
			return fmt.Errorf("%s.share %v: want more than 0 and at most 1", at, e.Share)
		}
	}
	return nil
}
