package adapters

import (
	"fmt"

	"github.com/crossdock/crossdock/gs1"
)

// CheckGTIN reports why s is not a GTIN (8, 12, 13 or 14 digits with a valid
// GS1 check digit), or nil. Adapters check identifiers themselves, so that the
// error names the line or segment rather than a field of the event.
func CheckGTIN(s string) error {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return fmt.Errorf("%q is not a GTIN: it has %d characters, want 8, 12, 13 or 14 digits", s, len(s))
	}
	return checkDigits(s, "GTIN")
}

// CheckGLN reports why s is not a GLN (13 digits with a valid GS1 check
// digit), or nil.
func CheckGLN(s string) error {
	if len(s) != 13 {
		return fmt.Errorf("%q is not a GLN: it has %d characters, want 13 digits", s, len(s))
	}
	return checkDigits(s, "GLN")
}

func checkDigits(s, what string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%q is not a %s: it must be digits only", s, what)
		}
	}
	if want := gs1.CheckDigit(s[:len(s)-1]); s[len(s)-1] != want {
		return fmt.Errorf("%q is not a %s: the check digit is %c, want %c", s, what, s[len(s)-1], want)
	}
	return nil
}
