package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/crossdock/crossdock/services/accounts"
)

const userUsage = `usage:
  crossdock user add --accounts FILE (--account ID | --warehouse ID) --email E --role buyer|viewer [--tiers FILE]
The password is read from the terminal (asked twice, not echoed) or, when
stdin is not a terminal, from the first line of stdin; never from a flag.
It is stored as an Argon2id hash; send the hub SIGHUP to load the file`

func userCommand(args []string) error {
	return user(args, os.Stdin, os.Stderr)
}

// user runs `crossdock user <verb>`; stdin gives the password, prompts go
// to prompt.
func user(args []string, stdin io.Reader, prompt io.Writer) error {
	if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Fprintln(prompt, userUsage)
		return flag.ErrHelp // asked for: main exits 0, as for a flag set's -h
	}
	if len(args) == 0 || args[0] != "add" {
		return errors.New(userUsage)
	}
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(prompt)
	file := fs.String("accounts", envOr("CROSSDOCK_ACCOUNTS", "deploy/accounts.example.yaml"), "accounts file to add the user to")
	tiersFile := fs.String("tiers", os.Getenv("CROSSDOCK_TIERS"), "tier policy file the hub runs with (default: built in)")
	account := fs.String("account", "", "the account the user signs in for")
	warehouse := fs.String("warehouse", "", "the warehouse the user signs in for")
	email := fs.String("email", "", "the user's email, with which it signs in")
	role := fs.String("role", "", "buyer (orders and tracks) or viewer (tracks only)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("user add: unexpected argument %q (the password is never an argument: it is read from stdin)", fs.Arg(0))
	case (*account == "") == (*warehouse == ""):
		return errors.New("user add: name exactly one of --account and --warehouse")
	case *email == "":
		return errors.New("user add: --email is required")
	case !accounts.Role(*role).Valid():
		return fmt.Errorf("user add: --role %q: want buyer or viewer", *role)
	}
	if err := accounts.CheckEmail(*email); err != nil {
		return fmt.Errorf("user add: --email %q: %w", *email, err)
	}
	tiers := accounts.DefaultTiers()
	if *tiersFile != "" {
		var err error
		if tiers, err = accounts.LoadTiers(*tiersFile); err != nil {
			return err
		}
	}
	content, err := os.ReadFile(*file)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	// Check the file and the holder before asking for a password.
	if _, err := accounts.AddUser(content, tiers, accounts.Holder{Account: *account, Warehouse: *warehouse},
		accounts.User{Email: *email, Password: placeholderHash, Role: accounts.Role(*role)}); err != nil {
		return fmt.Errorf("user add: %s: %w", *file, err)
	}
	password, err := readPassword(stdin, prompt)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	hash, err := accounts.HashPassword(password)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	out, err := accounts.AddUser(content, tiers, accounts.Holder{Account: *account, Warehouse: *warehouse},
		accounts.User{Email: *email, Password: hash, Role: accounts.Role(*role)})
	if err != nil {
		return fmt.Errorf("user add: %s: %w", *file, err)
	}
	if err := writeFileAtomic(*file, out); err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	holder := "account " + *account
	if *warehouse != "" {
		holder = "warehouse " + *warehouse
	}
	fmt.Fprintf(prompt, "added %s (%s) to %s in %s; send the hub SIGHUP to load it\n", *email, *role, holder, *file)
	return nil
}

// placeholderHash is a well-formed hash used to check the file before the
// password is asked for; it is never written.
const placeholderHash = "argon2id:$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// minPasswordLen is the shortest password user add takes (NIST SP 800-63B
// section 3.1.1.2 asks for at least 8 characters).
const minPasswordLen = 8

// readPassword asks twice on a terminal, without echo; otherwise it reads
// the first line of stdin.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	var pw string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len([]rune(pw)) < minPasswordLen {
		return "", fmt.Errorf("the password has fewer than %d characters", minPasswordLen)
	}
	return pw, nil
}

// writeFileAtomic replaces path with data through a temporary file in the
// same directory, keeping the file's mode, so that a hub reloading at the
// same moment reads the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
