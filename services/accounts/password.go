package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hash schemes of the accounts file: a portal user's password is
// "argon2id:" followed by the PHC string of an Argon2id hash, or "bcrypt:"
// followed by a bcrypt hash ($2a$, $2b$ or $2y$). The file never holds a
// password.
const (
	SchemeArgon2id = "argon2id"
	SchemeBcrypt   = "bcrypt"
)

// Argon2Params are the Argon2id cost parameters HashPassword uses: the
// OWASP Password Storage Cheat Sheet's first configuration (19 MiB, two
// passes, one lane), which keeps a sign-in near 30 ms of one core. Hashes
// carry their own parameters, so raising these later leaves existing
// hashes valid.
var Argon2Params = Argon2{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32}

// Argon2 is one set of Argon2id cost parameters (RFC 9106 section 3.1):
// memory in KiB, passes, lanes and the length of the derived key in bytes.
type Argon2 struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	KeyLen  uint32
}

// Limits on the parameters of a hash read from the file: a hash that asks
// for more would let one sign-in take the process's memory or a CPU for
// seconds.
const (
	maxArgonMemory  = 1 << 20 // KiB: 1 GiB
	maxArgonTime    = 16
	maxArgonThreads = 16
	minSaltLen      = 8
	minKeyLen       = 16
	maxKeyLen       = 128
	maxPasswordLen  = 4096 // bytes; a longer password is refused before hashing
)

// ErrPasswordHash says that a password field is not a hash this package
// can verify.
var ErrPasswordHash = errors.New("bad password hash")

// HashPassword hashes a portal user's password with Argon2id under
// Argon2Params and a random 16-byte salt from crypto/rand, and returns it as
// the accounts file stores it: "argon2id:$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>"
// (the PHC string format, unpadded standard base64).
func HashPassword(password string) (string, error) {
	return hashArgon2(password, Argon2Params)
}

func hashArgon2(password string, p Argon2) (string, error) {
	if password == "" {
		return "", errors.New("hash password: empty password")
	}
	if len(password) > maxPasswordLen {
		return "", fmt.Errorf("hash password: longer than %d bytes", maxPasswordLen)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%s:$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", SchemeArgon2id, argon2.Version,
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordHash is a parsed password field.
type passwordHash struct {
	scheme string
	argon  Argon2
	salt   []byte
	key    []byte
	bcrypt []byte
}

// parsePasswordHash checks a password field's form and parameters; the
// message never repeats the value.
func parsePasswordHash(s string) (*passwordHash, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%w: want \"argon2id:<PHC string>\" or \"bcrypt:<hash>\" (crossdock user add writes one), never a password", ErrPasswordHash)
	}
	switch scheme {
	case SchemeArgon2id:
		return parseArgon2(rest)
	case SchemeBcrypt:
		cost, err := bcrypt.Cost([]byte(rest))
		if err != nil || !(strings.HasPrefix(rest, "$2a$") || strings.HasPrefix(rest, "$2b$") || strings.HasPrefix(rest, "$2y$")) {
			return nil, fmt.Errorf("%w: bcrypt: want a hash such as $2a$12$ followed by 53 characters", ErrPasswordHash)
		}
		if cost > 16 {
			return nil, fmt.Errorf("%w: bcrypt: cost %d is over 16", ErrPasswordHash, cost)
		}
		return &passwordHash{scheme: SchemeBcrypt, bcrypt: []byte(rest)}, nil
	}
	return nil, fmt.Errorf("%w: scheme %q: want argon2id or bcrypt", ErrPasswordHash, scheme)
}

// parseArgon2 reads "$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>".
func parseArgon2(s string) (*passwordHash, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: argon2id: "+format, append([]any{ErrPasswordHash}, args...)...)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, bad("want $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, bad("version %q: want v=%d", parts[2], argon2.Version)
	}
	h := &passwordHash{scheme: SchemeArgon2id}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || seen[k] {
			return nil, bad("parameter %q: want m=, t= and p= once each, as numbers", kv)
		}
		seen[k] = true
		switch k {
		case "m":
			h.argon.Memory = uint32(n)
		case "t":
			h.argon.Time = uint32(n)
		case "p":
			if n > 255 {
				return nil, bad("p=%d: over %d lanes", n, maxArgonThreads)
			}
			h.argon.Threads = uint8(n)
		default:
			return nil, bad("unknown parameter %q", k)
		}
	}
	switch a := h.argon; {
	case len(seen) != 3:
		return nil, bad("want the parameters m, t and p")
	case a.Time < 1 || a.Time > maxArgonTime:
		return nil, bad("t=%d: want 1 to %d passes", a.Time, maxArgonTime)
	case a.Threads < 1 || a.Threads > maxArgonThreads:
		return nil, bad("p=%d: want 1 to %d lanes", a.Threads, maxArgonThreads)
	case a.Memory < 8*uint32(a.Threads) || a.Memory > maxArgonMemory:
		return nil, bad("m=%d: want 8×p to %d KiB", a.Memory, maxArgonMemory)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < minSaltLen {
		return nil, bad("salt: want at least %d bytes in unpadded base64", minSaltLen)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return nil, bad("hash: want %d to %d bytes in unpadded base64", minKeyLen, maxKeyLen)
	}
	h.argon.KeyLen = uint32(len(h.key))
	return h, nil
}

// verify reports whether password matches, in time that does not depend on
// how much of it matches.
func (h *passwordHash) verify(password string) bool {
	if len(password) > maxPasswordLen {
		return false
	}
	switch h.scheme {
	case SchemeArgon2id:
		a := h.argon
		got := argon2.IDKey([]byte(password), h.salt, a.Time, a.Memory, a.Threads, a.KeyLen)
		return subtle.ConstantTimeCompare(got, h.key) == 1
	case SchemeBcrypt:
		// bcrypt compares in constant time itself.
		return bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)) == nil
	}
	return false
}

// CheckPasswordHash reports what is wrong with a password field of the
// accounts file, or nil; the message never repeats the value.
func CheckPasswordHash(s string) error {
	_, err := parsePasswordHash(s)
	return err
}
