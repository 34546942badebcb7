package accounts

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crossdock/crossdock/bus/bustest"
)

// cheap are Argon2id parameters that keep the tests fast; the hashes carry
// them, so verification uses them too.
var cheap = Argon2{Memory: 64, Time: 1, Threads: 1, KeyLen: 32}

func mustHash(t *testing.T, password string) string {
	t.Helper()
	h, err := hashArgon2(password, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustBcrypt(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "bcrypt:" + string(h)
}

func TestHashPasswordWritesAnArgon2idPHCStringThatVerifies(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "argon2id:$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword() = %q, want the argon2id scheme and the PHC string with its parameters", h)
	}
	again, _ := HashPassword("correct horse battery staple")
	if again == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	p, err := parsePasswordHash(h)
	if err != nil {
		t.Fatalf("parsePasswordHash(HashPassword()) = %v", err)
	}
	if !p.verify("correct horse battery staple") || p.verify("correct horse battery stapl") {
		t.Error("the hash does not verify its password only")
	}
}

func TestPasswordHashesVerify(t *testing.T) {
	tests := []struct {
		name     string
		hash     func(t *testing.T, pw string) string
		password string
		want     bool
	}{
		{name: "an argon2id hash takes its password", hash: mustHash, password: "s3cret-pass", want: true},
		{name: "an argon2id hash refuses another password", hash: mustHash, password: "s3cret-pasS"},
		{name: "a bcrypt hash takes its password", hash: mustBcrypt, password: "s3cret-pass", want: true},
		{name: "a bcrypt hash refuses another password", hash: mustBcrypt, password: "S3cret-pass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePasswordHash(tc.hash(t, "s3cret-pass"))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.verify(tc.password); got != tc.want {
				t.Errorf("verify(%q) = %v, want %v", tc.password, got, tc.want)
			}
		})
	}
}

func TestCheckPasswordHashRefusesMalformedHashes(t *testing.T) {
	good := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + strings.Repeat("A", 43)
	tests := []struct{ name, in, want string }{
		{name: "a password pasted in place of a hash", in: "hunter2hunter2", want: "never a password"},
		{name: "an unknown scheme", in: "md5:5f4dcc3b5aa765d61d8327deb882cf99", want: `scheme "md5"`},
		{name: "argon2i rather than argon2id", in: "argon2id:" + strings.Replace(good, "argon2id", "argon2i", 1), want: "want $argon2id$"},
		{name: "another version", in: "argon2id:" + strings.Replace(good, "v=19", "v=16", 1), want: "version"},
		{name: "a missing parameter", in: "argon2id:" + strings.Replace(good, ",p=1", "", 1), want: "m, t and p"},
		{name: "a memory cost beyond one GiB", in: "argon2id:" + strings.Replace(good, "m=19456", "m=4194304", 1), want: "m=4194304"},
		{name: "too many passes", in: "argon2id:" + strings.Replace(good, "t=2", "t=100", 1), want: "t=100"},
		{name: "a short salt", in: "argon2id:" + strings.Replace(good, "c2FsdHNhbHRzYWx0c2FsdA", "c2FsdA", 1), want: "salt"},
		{name: "a hash that is not base64", in: "argon2id:" + good[:len(good)-43] + strings.Repeat("!", 43), want: "hash"},
		{name: "a bcrypt value that is not a bcrypt hash", in: "bcrypt:$2a$10$short", want: "bcrypt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordHash(tc.in)
			if err == nil || !errors.Is(err, ErrPasswordHash) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckPasswordHash(%q) = %v, want ErrPasswordHash mentioning %q", tc.in, err, tc.want)
			}
			if err != nil && len(tc.in) > 12 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("the error repeats the value: %v", err)
			}
		})
	}
	if err := CheckPasswordHash("argon2id:" + good); err != nil {
		t.Errorf("CheckPasswordHash(good) = %v", err)
	}
}

// withUsers is testFile with users under acme, globex and the warehouse.
func withUsers(t *testing.T) string {
	return strings.NewReplacer(
		"    webhook: {url:", "    users:\n      - {email: Buyer@Acme.example, password: \""+mustHash(t, "acme-buyer-pw")+"\", role: buyer}\n      - {email: viewer@acme.example, password: \""+mustBcrypt(t, "acme-viewer-pw")+"\", role: viewer}\n    webhook: {url:",
		"    api_keys: [\""+HashKey("k-dc-east")+"\"]", "    api_keys: [\""+HashKey("k-dc-east")+"\"]\n    users: [{email: dock@dc-east.example, password: \""+mustHash(t, "dock-pw-123")+"\", role: buyer}]",
	).Replace(testFile())
}

func TestParseFileChecksUsers(t *testing.T) {
	base := withUsers(t)
	if _, err := ParseFile([]byte(base), DefaultTiers()); err != nil {
		t.Fatalf("ParseFile(with users) = %v", err)
	}
	tests := []struct{ name, old, new, want string }{
		{name: "an email listed twice in the file, in any case, names both holders",
			old: "email: dock@dc-east.example", new: "email: VIEWER@acme.example", want: `account "acme": users[1].email "viewer@acme.example": already a user of warehouse "dc-east"`},
		{name: "an unknown role", old: "role: viewer", new: "role: admin", want: `account "acme": users[1].role "admin": want buyer or viewer`},
		{name: "an email with a display name", old: "email: viewer@acme.example", new: "email: \"Vic <viewer@acme.example>\"", want: "users[1].email"},
		{name: "a password instead of a hash", old: "password: \"" + base[strings.Index(base, "bcrypt:"):strings.Index(base, "bcrypt:")+20], new: "password: \"hunter2", want: `account "acme": users[1].password: bad password hash`},
		{name: "an unknown key", old: "role: viewer}", new: "role: viewer, admin: true}", want: "users[1].admin: unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(base, tc.old) {
				t.Fatalf("the test file has no %q", tc.old)
			}
			_, err := ParseFile([]byte(strings.Replace(base, tc.old, tc.new, 1)), DefaultTiers())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseFile() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAddUserKeepsCommentsAndRefusesDuplicates(t *testing.T) {
	content := "# the header comment\n" + withUsers(t)
	content = strings.Replace(content, "  - id: globex\n", "  - id: globex # the second account\n", 1)
	out, err := AddUser([]byte(content), DefaultTiers(), Holder{Account: "globex"}, User{Email: "new@globex.example", Password: mustHash(t, "globex-pw-1"), Role: RoleViewer})
	if err != nil {
		t.Fatalf("AddUser() = %v", err)
	}
	for _, want := range []string{"# the header comment", "# the second account", "- {email: new@globex.example, password: \"argon2id:$argon2id$", "role: viewer}",
		"- {gln: \"0614141000005\", type: dc, warehouse: dc-east}"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("AddUser() output lacks %q:\n%s", want, out)
		}
	}
	f, err := ParseFile(out, DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Accounts[1].Users; len(got) != 1 || got[0].Email != "new@globex.example" || got[0].Role != RoleViewer {
		t.Errorf("globex's users = %+v", got)
	}
	if len(f.Accounts[0].Users) != 2 || len(f.Warehouses[0].Users) != 1 {
		t.Errorf("the other users changed: acme %d, dc-east %d", len(f.Accounts[0].Users), len(f.Warehouses[0].Users))
	}

	out, err = AddUser(out, DefaultTiers(), Holder{Warehouse: "dc-east"}, User{Email: "second@dc-east.example", Password: mustHash(t, "dock-pw-2"), Role: RoleBuyer})
	if err != nil {
		t.Fatalf("AddUser(warehouse) = %v", err)
	}
	if f, _ = ParseFile(out, DefaultTiers()); len(f.Warehouses[0].Users) != 2 {
		t.Errorf("dc-east's users = %+v", f.Warehouses[0].Users)
	}

	tests := []struct {
		name string
		h    Holder
		u    User
		want string
	}{
		{name: "an email already listed anywhere is refused", h: Holder{Account: "globex"}, u: User{Email: "BUYER@acme.example", Password: mustHash(t, "x-password"), Role: RoleBuyer}, want: `user exists: a user of account "acme"`},
		{name: "an unknown account is refused", h: Holder{Account: "nobody"}, u: User{Email: "a@b.example", Password: mustHash(t, "x-password"), Role: RoleBuyer}, want: `no account "nobody"`},
		{name: "an unknown warehouse is refused", h: Holder{Warehouse: "dc-nowhere"}, u: User{Email: "a@b.example", Password: mustHash(t, "x-password"), Role: RoleBuyer}, want: `no warehouse "dc-nowhere"`},
		{name: "a bad role is refused by the file's own checks", h: Holder{Account: "globex"}, u: User{Email: "a@b.example", Password: mustHash(t, "x-password"), Role: "owner"}, want: `role "owner"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AddUser(out, DefaultTiers(), tc.h, tc.u)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("AddUser() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAddUserToTheExampleFileKeepsItsComments(t *testing.T) {
	b := readExample(t)
	out, err := AddUser(b, DefaultTiers(), Holder{Account: "umbrella"}, User{Email: "x@umbrella.example", Password: mustHash(t, "umbrella-pw"), Role: RoleBuyer})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if c := strings.Index(line, "# "); c >= 0 && !strings.Contains(string(out), strings.TrimSpace(line[c:])) {
			t.Errorf("the comment %q is lost", strings.TrimSpace(line[c:]))
		}
	}
}

func readExample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignInAndRemovalAfterReload(t *testing.T) {
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	r := startRegistry(t, b)
	// A second process's registry sees the same users through the bucket.
	other := startRegistry(t, b)
	content := withUsers(t)
	f, err := ParseFile([]byte(content), DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(testContext(t), f); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, email, password string
		want                  Principal // zero: refused
	}{
		{name: "a buyer signs in with its argon2id password, in any case of its email", email: "buyer@ACME.example", password: "acme-buyer-pw", want: Principal{Email: "buyer@acme.example", Role: RoleBuyer, Account: "acme"}},
		{name: "a viewer signs in with its bcrypt password", email: "viewer@acme.example", password: "acme-viewer-pw", want: Principal{Email: "viewer@acme.example", Role: RoleViewer, Account: "acme"}},
		{name: "a warehouse user signs in for its warehouse", email: "dock@dc-east.example", password: "dock-pw-123", want: Principal{Email: "dock@dc-east.example", Role: RoleBuyer, Warehouse: "dc-east"}},
		{name: "a wrong password is refused", email: "buyer@acme.example", password: "acme-viewer-pw"},
		{name: "an unknown email is refused", email: "nobody@acme.example", password: "acme-buyer-pw"},
		{name: "an empty password is refused", email: "buyer@acme.example", password: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.SignIn(tc.email, tc.password)
			got.Stamp = ""
			if ok != (tc.want != Principal{}) || got != tc.want {
				t.Errorf("SignIn(%q) = %+v, %v; want %+v", tc.email, got, ok, tc.want)
			}
		})
	}

	before, ok := r.User("buyer@acme.example")
	if !ok || before.Stamp == "" {
		t.Fatalf("User(buyer) = %+v, %v", before, ok)
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, ok := other.User("buyer@acme.example"); !ok {
			return errors.New("the other process does not know the buyer")
		}
		return nil
	})

	// The operator removes the buyer and changes the viewer's password, then reloads.
	f.Accounts[0].Users = []User{{Email: "viewer@acme.example", Password: mustHash(t, "new-viewer-pw"), Role: RoleViewer}}
	viewerBefore, _ := r.User("viewer@acme.example")
	if _, err := r.Apply(testContext(t), f); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.SignIn("buyer@acme.example", "acme-buyer-pw"); ok {
		t.Error("a removed user still signs in")
	}
	if p, ok := r.User("buyer@acme.example"); ok {
		t.Errorf("User(removed) = %+v, want not found (its sessions end)", p)
	}
	if p, ok := r.User("viewer@acme.example"); !ok || p.Stamp == viewerBefore.Stamp {
		t.Errorf("User(viewer) after a password change = %+v, %v; want a new stamp (its sessions end)", p, ok)
	}
	if _, ok := r.SignIn("viewer@acme.example", "acme-viewer-pw"); ok {
		t.Error("the old password still signs in")
	}
	if _, ok := r.SignIn("viewer@acme.example", "new-viewer-pw"); !ok {
		t.Error("the new password does not sign in")
	}
	bustest.CheckFor(t, 10*time.Second, func() error {
		if _, ok := other.User("buyer@acme.example"); ok {
			return errors.New("the other process still knows the removed buyer")
		}
		return nil
	})
	if p, ok := r.User("dock@dc-east.example"); !ok || p.Warehouse != "dc-east" {
		t.Errorf("User(dock) = %+v, %v: an unchanged user must stay", p, ok)
	}
}

func TestExampleFileDevUsersSignIn(t *testing.T) {
	r, _ := withExample(t)
	for _, u := range []struct {
		email string
		want  Principal
	}{
		{"buyer@acme.example", Principal{Email: "buyer@acme.example", Role: RoleBuyer, Account: "acme"}},
		{"viewer@acme.example", Principal{Email: "viewer@acme.example", Role: RoleViewer, Account: "acme"}},
		{"buyer@umbrella.example", Principal{Email: "buyer@umbrella.example", Role: RoleBuyer, Account: "umbrella"}},
		{"dock@dc-east.example", Principal{Email: "dock@dc-east.example", Role: RoleBuyer, Warehouse: "dc-east"}},
	} {
		got, ok := r.SignIn(u.email, "xd_dev_portal")
		got.Stamp = ""
		if !ok || got != u.want {
			t.Errorf("SignIn(%s, the documented dev password) = %+v, %v; want %+v", u.email, got, ok, u.want)
		}
	}
}
