// Package gs1 is the arithmetic of GS1 identification keys that every part of
// the hub shares: the mod-10 check digit of GTINs, GLNs and SSCCs, the checks
// of a GTIN and a GLN, and the GTIN-14 form items are keyed by. It is a leaf:
// schemas, accounts, adapters, the RFID decoder and the services all use it,
// so one item has one identifier and one check everywhere.
package gs1

import "fmt"

// CheckDigit returns the GS1 mod-10 check digit ('0' to '9') of body, a string
// of ASCII digits without its check digit (a GTIN, GLN or SSCC but its last
// digit). GS1 General Specifications §7.9.1: weights 3 and 1 alternate from
// the rightmost digit of body, which weighs 3.
func CheckDigit(body string) byte {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// Complete returns body followed by its check digit: the key a GS1 company
// prefix and reference stand for (an SGLN's GLN, an SGTIN's GTIN).
func Complete(body string) string {
	return body + string(CheckDigit(body))
}

// CheckGTIN reports why s is not a Global Trade Item Number (8, 12, 13 or 14
// digits whose last is the check digit of the others), or nil.
func CheckGTIN(s string) error {
	switch len(s) {
	case 8, 12, 13, 14:
	default:
		return fmt.Errorf("want 8, 12, 13 or 14 digits, got %d characters", len(s))
	}
	return checkDigits(s)
}

// CheckGLN reports why s is not a Global Location Number (13 digits whose
// last is the check digit of the first 12), or nil.
func CheckGLN(s string) error {
	if len(s) != 13 {
		return fmt.Errorf("want 13 digits, got %d characters", len(s))
	}
	return checkDigits(s)
}

// checkDigits checks that s is all digits and ends in its check digit.
func checkDigits(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return fmt.Errorf("want digits only, got %q at position %d", c, i+1)
		}
	}
	if want := CheckDigit(s[:len(s)-1]); s[len(s)-1] != want {
		return fmt.Errorf("check digit should be %c", want)
	}
	return nil
}

// GTIN14 writes a GTIN of 8, 12 or 13 digits as the GTIN-14 it stands for
// (left-padded with zeros), the form the hub writes and keys items by, so that
// one item has one identifier whatever a partner sent (UPC-A, EAN-13 or
// GTIN-14). Longer strings are returned as they are.
func GTIN14(s string) string {
	if len(s) < 14 {
		return "00000000000000"[len(s):] + s
	}
	return s
}
