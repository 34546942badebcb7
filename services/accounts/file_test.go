package accounts

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testFile is a valid accounts file that the error cases below break one
// thing at a time.
func testFile() string {
	return strings.NewReplacer(
		"<wh>", HashKey("k-dc-east"),
		"<acme>", HashKey("k-acme"),
		"<globex>", HashKey("k-globex"),
	).Replace(`
warehouses:
  - id: dc-east
    api_keys: ["<wh>"]
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: ["<acme>"]
    locations:
      - {gln: "0614141000005", type: dc, warehouse: dc-east}
      - {gln: "0614141000012", type: store, warehouse: dc-east}
    webhook: {url: "https://erp.example/hooks/crossdock", secret: "s3cret-webhook"}
  - id: globex
    tier: integrated
    api_keys: ["<globex>"]
    locations:
      - {gln: "0614141000029", type: dc, warehouse: dc-east}
`)
}

func TestParseFileAcceptsAValidFile(t *testing.T) {
	t.Parallel()
	f, err := ParseFile([]byte(testFile()), DefaultTiers())
	if err != nil {
		t.Fatalf("ParseFile() error = %v", err)
	}
	if len(f.Warehouses) != 1 || len(f.Accounts) != 2 {
		t.Fatalf("ParseFile() = %d warehouses, %d accounts, want 1 and 2", len(f.Warehouses), len(f.Accounts))
	}
	if got := f.Accounts[0].Locations[1]; got != (Location{GLN: "0614141000012", Type: LocationStore, Warehouse: "dc-east"}) {
		t.Errorf("acme's second location = %+v", got)
	}
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	acme := HashKey("k-acme")
	tests := []struct {
		name     string
		old, new string // the change to testFile
		want     string
	}{
		{
			name: "a wrong GLN check digit names the account, the location and the right digit",
			old:  "0614141000012", new: "0614141000006",
			want: `account "acme": locations[1].gln "0614141000006": check digit should be 5`,
		},
		{
			name: "a GLN of 12 digits is refused",
			old:  "0614141000029", new: "061414100002",
			want: `account "globex": locations[0].gln "061414100002": want 13 digits, got 12 characters`,
		},
		{
			name: "a GLN with a letter is refused",
			old:  "0614141000029", new: "06141410000A9",
			want: `account "globex": locations[0].gln "06141410000A9": want digits only, got 'A' at position 12`,
		},
		{
			name: "a GLN used by two accounts is refused",
			old:  "0614141000029", new: "0614141000005",
			want: `account "globex": locations[0].gln "0614141000005": already a location of account "acme"`,
		},
		{
			name: "a location type other than dc or store is refused",
			old:  "type: store", new: "type: shop",
			want: `account "acme": locations[1].type "shop": want dc or store`,
		},
		{
			name: "a location served by an unknown warehouse is refused",
			old:  "type: store, warehouse: dc-east", new: "type: store, warehouse: dc-north",
			want: `account "acme": locations[1].warehouse "dc-north": no such warehouse in the file`,
		},
		{
			name: "an account id with capitals is refused",
			old:  "id: acme", new: "id: Acme",
			want: `accounts[0]: id "Acme": want 1 to 32 of a-z, 0-9 and -`,
		},
		{
			name: "the reserved account id wh is refused",
			old:  "id: globex", new: "id: wh",
			want: `account "wh": id: reserved (warehouses publish under xd.in.wh.)`,
		},
		{
			name: "an EDI format that is not a format name is refused",
			old:  "    webhook:", new: "    edi: {format: X 12}\n    webhook:",
			want: `account "acme": edi.format "X 12": want an adapter's format name, such as x12`,
		},
		{
			name: "an unknown EDI key is refused",
			old:  "    webhook:", new: "    edi: {format: x12, sender: ME}\n    webhook:",
			want: `account "acme": edi.sender: unknown key`,
		},
		{
			name: "two accounts with one id are refused",
			old:  "id: globex", new: "id: acme",
			want: `account "acme": id: named twice`,
		},
		{
			name: "two warehouses with one id are refused",
			old:  "accounts:", new: "  - id: dc-east\naccounts:",
			want: `warehouse "dc-east": id: named twice`,
		},
		{
			name: "a warehouse id with a dot is refused",
			old:  "id: dc-east\n", new: "id: dc.east\n",
			want: `warehouses[0]: id "dc.east": want 1 to 32 of a-z, 0-9 and -`,
		},
		{
			name: "an unknown tier is refused",
			old:  "tier: integrated", new: "tier: gold",
			want: `account "globex": tier "gold": want one of strategic, integrated, emerging, stable`,
		},
		{
			name: "a tier that is not a word is refused with its line",
			old:  "tier: integrated", new: "tier: [gold]",
			want: `account "globex": line 15: cannot unmarshal !!seq into accounts.Tier`,
		},
		{
			name: "a raw key in api_keys is refused without repeating it",
			old:  acme, new: "xd_live_supersecret",
			want: `account "acme": api_keys[0]: want "sha256:" and 64 lower-case hex digits (the SHA-256 of the key, never the key)`,
		},
		{
			name: "an upper-case digest is refused",
			old:  acme, new: strings.ToUpper(acme),
			want: `account "acme": api_keys[0]: want "sha256:" and 64 lower-case hex digits (the SHA-256 of the key, never the key)`,
		},
		{
			name: "a digest used by two accounts is refused",
			old:  HashKey("k-globex"), new: acme,
			want: `account "globex": api_keys[0]: digest already used by account "acme"`,
		},
		{
			name: "a digest shared by a warehouse and an account is refused",
			old:  acme, new: HashKey("k-dc-east"),
			want: `account "acme": api_keys[0]: digest already used by warehouse "dc-east"`,
		},
		{
			name: "a webhook that is not http or https is refused",
			old:  "https://erp.example/hooks/crossdock", new: "ftp://erp.example/hooks",
			want: `account "acme": webhook.url "ftp://erp.example/hooks": want an http or https URL`,
		},
		{
			name: "an unknown policy key is refused",
			old:  "    webhook:", new: "    policy: {discount: 5}\n    webhook:",
			want: `account "acme": policy.discount: unknown key; want one of delivery, digest_every, experiments, factory_pickup, lane, min_order_units, order_days, planning, planning_exception_threshold, planning_safety_days, quota, rfid, rfid_dedupe_window, ship_to, slo, vmi, vmi_case_pack, vmi_cutoff, vmi_lead_days, vmi_review_days, vmi_service_level`,
		},
		{
			name: "a lane override is refused because lanes follow tiers",
			old:  "    webhook:", new: "    policy: {lane: bulk}\n    webhook:",
			want: `account "acme": policy.lane: cannot be overridden, lanes follow tiers (change the account's tier instead)`,
		},
		{
			name: "a policy override with a bad value names the key",
			old:  "    webhook:", new: "    policy: {vmi: hourly}\n    webhook:",
			want: `account "acme": policy.vmi "hourly": want continuous, scheduled or off`,
		},
		{
			name: "a policy override with a bad duration names the key",
			old:  "    webhook:", new: "    policy: {digest_every: soon}\n    webhook:",
			want: `account "acme": policy.digest_every: duration "soon": time: invalid duration "soon"`,
		},
		{
			name: "an unknown account key is refused",
			old:  "    webhook:", new: "    colour: red\n    webhook:",
			want: `account "acme": colour: unknown key`,
		},
		{
			name: "an unknown location key is refused with its path",
			old:  `{gln: "0614141000005", type: dc`, new: `{glm: "0614141000005", type: dc`,
			want: `account "acme": locations[0].glm: unknown key`,
		},
		{
			name: "an unknown webhook key is refused with its path",
			old:  `secret: "s3cret-webhook"`, new: `secret: "s3cret-webhook", retries: 3`,
			want: `account "acme": webhook.retries: unknown key`,
		},
		{
			name: "an unknown top-level key is refused",
			old:  "accounts:", new: "customers: []\naccounts:",
			want: `customers: unknown key; want warehouses or accounts`,
		},
		{
			name: "broken YAML is refused with its line",
			old:  "    tier: strategic", new: "    tier: [strategic",
			want: `line 7: did not find expected ',' or ']'`, // yaml.v3's count
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testFile()
			if !strings.Contains(in, tc.old) {
				t.Fatalf("test file has no %q", tc.old)
			}
			in = strings.Replace(in, tc.old, tc.new, 1)
			_, err := ParseFile([]byte(in), DefaultTiers())
			want := "accounts file: " + tc.want
			if err == nil || err.Error() != want {
				t.Fatalf("ParseFile() error = %v,\nwant %s", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("ParseFile() error has several lines: %q", err)
			}
			if strings.Contains(err.Error(), "supersecret") || strings.Contains(err.Error(), "s3cret-webhook") {
				t.Errorf("ParseFile() error repeats a secret: %q", err)
			}
		})
	}
}

func TestParseFileRefusesAnEmptyFile(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"an empty file is refused", ""},
		{"a file of comments only is refused", "# nothing yet\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.in), DefaultTiers())
			if want := "accounts file: empty: want the keys warehouses and accounts"; err == nil || err.Error() != want {
				t.Errorf("ParseFile(%q) error = %v, want %s", tc.in, err, want)
			}
		})
	}
}

func TestLoadFileNamesThePath(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(testFile(), "0614141000012", "0614141000006", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path, DefaultTiers())
	want := "accounts file " + path + `: account "acme": locations[1].gln "0614141000006": check digit should be 5`
	if err == nil || err.Error() != want {
		t.Errorf("LoadFile() error = %v,\nwant %s", err, want)
	}
}

func TestHashKey(t *testing.T) {
	t.Parallel()
	// printf %s xd_dev_acme | sha256sum
	const want = "sha256:d2d46cd50a6110d3e41f3a501e1469254eda0eea7709f2dae5b731a97311e269"
	if got := HashKey("xd_dev_acme"); got != want {
		t.Errorf("HashKey(xd_dev_acme) = %s, want %s", got, want)
	}
}

// devKeyLine matches an api_keys line of the example file with the dev key
// documented in its comment.
var devKeyLine = regexp.MustCompile(`api_keys: \["(sha256:[0-9a-f]{64})"\]\s+# dev key: (\S+)`)

func TestExampleFileDocumentsItsKeys(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../deploy/accounts.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile("../../deploy/accounts.example.yaml", DefaultTiers()); err != nil {
		t.Fatalf("LoadFile(example) error = %v", err)
	}
	matches := devKeyLine.FindAllStringSubmatch(string(b), -1)
	if len(matches) != 6 {
		t.Fatalf("example file documents %d dev keys next to their digests, want 6", len(matches))
	}
	for _, m := range matches {
		if got := HashKey(m[2]); got != m[1] {
			t.Errorf("dev key %s: digest in the file %s, want %s", m[2], m[1], got)
		}
	}
}
