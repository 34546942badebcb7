package schemas

import (
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crossdock/crossdock/gs1"
)

// glnFormat is the custom JSON Schema format "gln": a GS1 Global Location
// Number, 13 digits ending in a GS1 mod-10 check digit.
var glnFormat = &jsonschema.Format{Name: "gln", Validate: func(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil // "format" only constrains strings; "type" says the rest
	}
	if len(s) != 13 || !allDigits(s) {
		return errors.New("must be 13 digits")
	}
	return checkDigit(s)
}}

// gtinFormat is the custom JSON Schema format "gtin": a GS1 Global Trade Item
// Number of 8, 12, 13 or 14 digits ending in a GS1 mod-10 check digit.
var gtinFormat = &jsonschema.Format{Name: "gtin", Validate: func(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	switch {
	case !allDigits(s):
		return errors.New("must be 8, 12, 13 or 14 digits")
	case len(s) != 8 && len(s) != 12 && len(s) != 13 && len(s) != 14:
		return fmt.Errorf("must be 8, 12, 13 or 14 digits, not %d", len(s))
	}
	return checkDigit(s)
}}

// formatNames are the names used in messages for the formats the schemas use.
var formatNames = map[string]string{
	"gln":       "GLN",
	"gtin":      "GTIN",
	"date":      "date",
	"date-time": "date-time",
}

// formatHints replace the library's explanation of why a built-in format
// failed, which talks about character positions, with what to send instead.
var formatHints = map[string]string{
	"date":      "want a calendar date written YYYY-MM-DD, e.g. 2025-03-31",
	"date-time": "want an RFC 3339 timestamp with a time zone, e.g. 2025-03-31T14:05:00Z",
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkDigit checks the last digit of s, a string of digits, against the GS1
// mod-10 check digit of the others (GS1 General Specifications §7.9.1).
func checkDigit(s string) error {
	if want := gs1.CheckDigit(s[:len(s)-1]); s[len(s)-1] != want {
		return fmt.Errorf("check digit should be %c", want)
	}
	return nil
}
