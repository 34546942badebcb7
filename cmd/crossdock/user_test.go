package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/services/accounts"
)

func TestUserAddWritesAHashThatSignsIn(t *testing.T) {
	example, err := os.ReadFile("../../deploy/accounts.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(file, example, 0o640); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string // in the error; "" for success
	}{
		{name: "a buyer of an account is added with the password from stdin",
			args: []string{"add", "--accounts", file, "--account", "umbrella", "--email", "orders@umbrella.example", "--role", "buyer"}, stdin: "umbrella-orders-pw\n"},
		{name: "a user of a warehouse is added",
			args: []string{"add", "--accounts", file, "--warehouse", "dc-west", "--email", "dock@dc-west.example", "--role", "buyer"}, stdin: "dc-west-dock-pw"},
		{name: "the same email again is refused",
			args: []string{"add", "--accounts", file, "--account", "acme", "--email", "ORDERS@umbrella.example", "--role", "viewer"}, stdin: "another-password\n", want: "user exists"},
		{name: "a password shorter than 8 characters is refused",
			args: []string{"add", "--accounts", file, "--account", "acme", "--email", "short@acme.example", "--role", "viewer"}, stdin: "short\n", want: "fewer than 8"},
		{name: "a password given as a flag is refused",
			args: []string{"add", "--accounts", file, "--account", "acme", "--email", "flag@acme.example", "--role", "viewer", "--password", "in-the-shell-history"}, want: "flag provided but not defined: -password"},
		{name: "an unknown role is refused before the password is read",
			args: []string{"add", "--accounts", file, "--account", "acme", "--email", "x@acme.example", "--role", "admin"}, want: `--role "admin"`},
		{name: "an account that is not in the file is refused before the password is read",
			args: []string{"add", "--accounts", file, "--account", "nobody", "--email", "x@acme.example", "--role", "viewer"}, want: `no account "nobody"`},
		{name: "both an account and a warehouse are refused",
			args: []string{"add", "--accounts", file, "--account", "acme", "--warehouse", "dc-east", "--email", "x@acme.example", "--role", "viewer"}, want: "exactly one of --account and --warehouse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prompt bytes.Buffer
			err := user(tc.args, strings.NewReader(tc.stdin), &prompt)
			if tc.want == "" && err != nil {
				t.Fatalf("user %v = %v", tc.args, err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("user %v = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if strings.Contains(prompt.String(), strings.TrimSpace(tc.stdin)) && tc.stdin != "" {
				t.Errorf("the password was echoed: %q", prompt.String())
			}
		})
	}

	out, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode = %v, want 0640 kept", st.Mode().Perm())
	}
	for _, want := range []string{"# crossdock accounts file", "# dev key: xd_dev_umbrella", "{email: orders@umbrella.example, password: \"argon2id:$argon2id$v=19$m=19456,t=2,p=1$"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the file lacks %q", want)
		}
	}
	if strings.Contains(string(out), "umbrella-orders-pw") {
		t.Error("the file holds the password")
	}

	// The hub loads the file (as on SIGHUP) and the users sign in.
	b := bustest.New(t, bustest.RunServer(t, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := accounts.NewRegistry(ctx, b, accounts.DefaultTiers(), bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Reload(ctx, file); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if p, ok := reg.SignIn("orders@umbrella.example", "umbrella-orders-pw"); !ok || p.Account != "umbrella" || p.Role != accounts.RoleBuyer {
		t.Errorf("SignIn(umbrella buyer) = %+v, %v", p, ok)
	}
	if p, ok := reg.SignIn("dock@dc-west.example", "dc-west-dock-pw"); !ok || p.Warehouse != "dc-west" {
		t.Errorf("SignIn(dc-west user) = %+v, %v", p, ok)
	}
}

func TestUserHelpIsNotAFailure(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		var out bytes.Buffer
		if err := user([]string{arg}, strings.NewReader(""), &out); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("user %s = %v, want flag.ErrHelp (main exits 0 on it: the usage is the answer)", arg, err)
		}
		if !strings.Contains(out.String(), "crossdock user add") {
			t.Errorf("user %s printed %q, want the usage", arg, out.String())
		}
	}
}
