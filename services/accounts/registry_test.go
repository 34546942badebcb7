package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/bus/bustest"
)

const examplePath = "../../deploy/accounts.example.yaml"

// startRegistry builds a registry on b and runs it until the test ends.
func startRegistry(t *testing.T, b *bus.Bus) *Registry {
	t.Helper()
	r := newRegistry(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return r
}

// newRegistry builds a registry on b without following the bucket.
func newRegistry(t *testing.T, b *bus.Bus) *Registry {
	t.Helper()
	r, err := NewRegistry(testContext(t), b, DefaultTiers(), bustest.Logger(t))
	if err != nil {
		t.Fatalf("NewRegistry() = %v", err)
	}
	return r
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func exampleFile(t *testing.T) *File {
	t.Helper()
	f, err := LoadFile(examplePath, DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withExample returns a registry on a fresh server holding the example file.
func withExample(t *testing.T) (*Registry, *bus.Bus) {
	t.Helper()
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	r := startRegistry(t, b)
	if _, err := r.Apply(testContext(t), exampleFile(t)); err != nil {
		t.Fatalf("Apply(example) = %v", err)
	}
	return r, b
}

func tierOf(r *Registry, id string) Tier {
	e, ok := r.Account(id)
	if !ok {
		return ""
	}
	return e.Account.Tier
}

func TestExampleFileKeysAuthenticate(t *testing.T) {
	r, _ := withExample(t)
	tests := []struct {
		name string
		key  string
		want Identity
		ok   bool
	}{
		{"acme's dev key is acme", "xd_dev_acme", Identity{Account: "acme"}, true},
		{"globex's dev key is globex", "xd_dev_globex", Identity{Account: "globex"}, true},
		{"initech's dev key is initech", "xd_dev_initech", Identity{Account: "initech"}, true},
		{"umbrella's dev key is umbrella", "xd_dev_umbrella", Identity{Account: "umbrella"}, true},
		{"dc-east's dev key is the warehouse dc-east", "xd_dev_dc_east", Identity{Warehouse: "dc-east"}, true},
		{"dc-west's dev key is the warehouse dc-west", "xd_dev_dc_west", Identity{Warehouse: "dc-west"}, true},
		{"a wrong key is nobody", "xd_dev_acme2", Identity{}, false},
		{"an empty key is nobody", "", Identity{}, false},
		{"the stored digest is not a key", HashKey("xd_dev_acme"), Identity{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := r.Authenticate(tc.key)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Authenticate(%q) = %+v, %v, want %+v, %v", tc.key, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestRegistryServesEffectivePolicies(t *testing.T) {
	r, _ := withExample(t)
	for id, lane := range map[string]Lane{"acme": Priority, "globex": Standard, "initech": Standard, "umbrella": Bulk} {
		e, ok := r.Account(id)
		if !ok {
			t.Fatalf("Account(%s) not found", id)
		}
		if e.Policy.Lane != lane || e.Revision == 0 {
			t.Errorf("Account(%s) = lane %s, revision %d, want lane %s and a revision", id, e.Policy.Lane, e.Revision, lane)
		}
	}
	if e, _ := r.Account("umbrella"); e.Policy.AllowsShipTo(LocationStore) {
		t.Error("umbrella (stable) may ship to a store, want dc only")
	}
	if w, ok := r.Warehouse("dc-west"); !ok || w.ID != "dc-west" {
		t.Errorf("Warehouse(dc-west) = %+v, %v", w, ok)
	}
	if _, ok := r.Account("nobody"); ok {
		t.Error("Account(nobody) found")
	}
}

func TestSetTierAnnouncesOnceAndTakesEffectForTheNextEvent(t *testing.T) {
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	r := startRegistry(t, b)
	ctx := testContext(t)
	if _, err := r.Apply(ctx, exampleFile(t)); err != nil {
		t.Fatal(err)
	}
	events := bustest.Watch(t, bustest.Connect(t, s), "xd.out.acme.account.tier.changed")

	tc, err := r.SetTier(ctx, "acme", Integrated)
	if want := (TierChange{Account: "acme", From: Strategic, To: Integrated}); err != nil || tc != want {
		t.Fatalf("SetTier(acme, integrated) = %+v, %v, want %+v", tc, err, want)
	}
	e, _ := r.Account("acme")
	if e.Account.Tier != Integrated || e.Policy.Lane != Standard || e.Policy.VMI != "scheduled" {
		t.Errorf("right after SetTier, Account(acme) = tier %s, lane %s, vmi %s; want integrated, standard, scheduled",
			e.Account.Tier, e.Policy.Lane, e.Policy.VMI)
	}

	ev := bustest.Next(t, events, 5*time.Second)
	if ev.Type() != "crossdock.account.tier.changed.v1" || ev.Source() != "/crossdock/accounts" || bus.Account(ev) != "acme" {
		t.Errorf("event = type %s, source %s, account %q", ev.Type(), ev.Source(), bus.Account(ev))
	}
	var data map[string]string
	if err := json.Unmarshal(ev.Data(), &data); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"account": "acme", "from": "strategic", "to": "integrated"}; !reflect.DeepEqual(data, want) {
		t.Errorf("event data = %v, want %v", data, want)
	}

	// Setting the same tier changes and announces nothing: the next event
	// seen is the one of the following real change.
	tc, err = r.SetTier(ctx, "acme", Integrated)
	if want := (TierChange{Account: "acme", From: Integrated, To: Integrated}); err != nil || tc != want {
		t.Fatalf("SetTier(acme, integrated) again = %+v, %v, want %+v", tc, err, want)
	}
	if _, err := r.SetTier(ctx, "acme", Strategic); err != nil {
		t.Fatal(err)
	}
	next := bustest.Next(t, events, 5*time.Second)
	if err := json.Unmarshal(next.Data(), &data); err != nil {
		t.Fatal(err)
	}
	if data["from"] != "integrated" || data["to"] != "strategic" {
		t.Errorf("event after a no-op and a move back = %v, want integrated → strategic", data)
	}
	if next.ID() == ev.ID() {
		t.Errorf("two tier changes share the event id %s", ev.ID())
	}
}

func TestSetTierErrors(t *testing.T) {
	r, _ := withExample(t)
	tests := []struct {
		name string
		id   string
		tier Tier
		want error
	}{
		{"an unknown account is ErrUnknownAccount", "hooli", Stable, ErrUnknownAccount},
		{"an id that cannot be an account is ErrUnknownAccount", "No Such", Stable, ErrUnknownAccount},
		{"a name that is not a tier is ErrInvalidTier", "acme", "gold", ErrInvalidTier},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.SetTier(testContext(t), tc.id, tc.tier)
			if !errors.Is(err, tc.want) {
				t.Errorf("SetTier(%q, %q) = %v, want %v", tc.id, tc.tier, err, tc.want)
			}
		})
	}
	if got := tierOf(r, "acme"); got != Strategic {
		t.Errorf("after failed SetTier calls acme is %s, want strategic", got)
	}
}

func TestSetTierRefusesATierTheOverridesDoNotFit(t *testing.T) {
	s := bustest.RunServer(t, "")
	r := startRegistry(t, bustest.New(t, s))
	// On an emerging account (vmi off) this override is valid; under
	// integrated (vmi scheduled) the cutoff must be a time.
	f, err := ParseFile([]byte(`
warehouses: [{id: dc-east}]
accounts:
  - {id: hooli, tier: emerging, policy: {vmi_cutoff: "whenever"}}
`), DefaultTiers())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(testContext(t), f); err != nil {
		t.Fatal(err)
	}
	_, err = r.SetTier(testContext(t), "hooli", Integrated)
	if !errors.Is(err, ErrInvalidTier) || !strings.Contains(err.Error(), "policy.vmi_cutoff") {
		t.Errorf("SetTier(hooli, integrated) = %v, want ErrInvalidTier naming policy.vmi_cutoff", err)
	}
	if got := tierOf(r, "hooli"); got != Emerging {
		t.Errorf("hooli is %s after the refused change, want emerging", got)
	}
}

func TestAnotherProcessSeesChanges(t *testing.T) {
	s := bustest.RunServer(t, "")
	first := startRegistry(t, bustest.New(t, s))
	second := startRegistry(t, bustest.New(t, s))
	ctx := testContext(t)
	if _, err := first.Apply(ctx, exampleFile(t)); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, func() error {
		if _, ok := second.Authenticate("xd_dev_umbrella"); !ok {
			return errors.New("second registry does not know umbrella's key yet")
		}
		return nil
	})

	if _, err := first.SetTier(ctx, "globex", Strategic); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, func() error {
		e, ok := second.Account("globex")
		if !ok || e.Account.Tier != Strategic || e.Policy.Lane != Priority {
			return fmt.Errorf("second registry sees globex as %+v", e)
		}
		return nil
	})

	// A process that starts now loads the current state before serving.
	if got := tierOf(newRegistry(t, bustest.New(t, s)), "globex"); got != Strategic {
		t.Errorf("a registry started after the change sees globex as %q, want strategic", got)
	}
}

func TestApplyWithAStaleSnapshotRereadsTheAccount(t *testing.T) {
	s := bustest.RunServer(t, "")
	first := startRegistry(t, bustest.New(t, s))
	ctx := testContext(t)
	if _, err := first.Apply(ctx, exampleFile(t)); err != nil {
		t.Fatal(err)
	}
	stale := newRegistry(t, bustest.New(t, s)) // loads, but does not follow
	if _, err := first.SetTier(ctx, "acme", Emerging); err != nil {
		t.Fatal(err)
	}
	f := exampleFile(t)
	f.Accounts[0].Tier = Integrated
	changes, err := stale.Apply(ctx, f)
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	// The write with the stale revision conflicts; the reread shows the
	// real previous tier.
	if want := []TierChange{{Account: "acme", From: Emerging, To: Integrated}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("Apply() = %+v, want %+v", changes, want)
	}
	bustest.CheckFor(t, 5*time.Second, func() error {
		if got := tierOf(first, "acme"); got != Integrated {
			return fmt.Errorf("first registry sees acme as %s", got)
		}
		return nil
	})
}

func TestApplyWritesChangesAndRemovesAccounts(t *testing.T) {
	s := bustest.RunServer(t, "")
	r := startRegistry(t, bustest.New(t, s))
	other := startRegistry(t, bustest.New(t, s))
	ctx := testContext(t)
	if _, err := r.Apply(ctx, exampleFile(t)); err != nil {
		t.Fatal(err)
	}
	events := bustest.Watch(t, bustest.Connect(t, s), "xd.out.*.account.tier.changed")
	before, _ := r.Account("acme")

	f := exampleFile(t)
	f.Accounts[1].Tier = Strategic               // globex is promoted
	f.Accounts = append(f.Accounts[:3], Account{ // umbrella leaves, hooli arrives
		ID: "hooli", Name: "Hooli", Tier: Emerging, APIKeys: []string{HashKey("k-hooli")},
		Locations: []Location{{GLN: "0614141000074", Type: LocationStore, Warehouse: "dc-east"}},
	})
	changes, err := r.Apply(ctx, f)
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if want := []TierChange{{Account: "globex", From: Integrated, To: Strategic}}; !reflect.DeepEqual(changes, want) {
		t.Errorf("Apply() = %+v, want %+v", changes, want)
	}

	// This process sees the new content at once.
	if got := tierOf(r, "globex"); got != Strategic {
		t.Errorf("globex is %s right after Apply, want strategic", got)
	}
	if _, ok := r.Account("umbrella"); ok {
		t.Error("umbrella still served right after Apply removed it")
	}
	if _, ok := r.Authenticate("xd_dev_umbrella"); ok {
		t.Error("umbrella's key still authenticates after Apply removed it")
	}
	if id, ok := r.Authenticate("k-hooli"); !ok || id.Account != "hooli" {
		t.Errorf("Authenticate(hooli's key) = %+v, %v", id, ok)
	}
	if after, _ := r.Account("acme"); after.Revision != before.Revision {
		t.Errorf("acme, unchanged in the file, was rewritten: revision %d → %d", before.Revision, after.Revision)
	}

	ev := bustest.Next(t, events, 5*time.Second)
	if bus.Account(ev) != "globex" {
		t.Errorf("tier change event for account %q, want globex", bus.Account(ev))
	}

	// Another process follows, removal included.
	bustest.CheckFor(t, 5*time.Second, func() error {
		if _, ok := other.Account("umbrella"); ok {
			return errors.New("other registry still has umbrella")
		}
		if _, ok := other.Account("hooli"); !ok {
			return errors.New("other registry does not have hooli yet")
		}
		return nil
	})

	// Applying the same file again changes nothing.
	again, err := r.Apply(ctx, f)
	if err != nil || len(again) != 0 {
		t.Errorf("Apply(same file) = %+v, %v, want no changes", again, err)
	}
}

func TestReloadWithABrokenFileKeepsTheContent(t *testing.T) {
	s := bustest.RunServer(t, "")
	r := startRegistry(t, bustest.New(t, s))
	ctx := testContext(t)
	good, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx, path); err != nil {
		t.Fatalf("Reload(good file) = %v", err)
	}
	before, _ := r.Account("acme")

	tests := []struct {
		name    string
		content string
	}{
		{
			name: "a file with one bad GLN changes nothing, not even its valid changes",
			content: strings.NewReplacer("tier: strategic", "tier: stable",
				"0614141000067", "0614141000068").Replace(string(good)),
		},
		{name: "an empty file changes nothing", content: ""},
		{name: "a file that is not YAML changes nothing", content: "accounts: [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := r.Reload(ctx, path)
			if err == nil || !strings.HasPrefix(err.Error(), "accounts file "+path+": ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Reload() = %v, want one line naming the file", err)
			}
			after, ok := r.Account("acme")
			if !ok || after.Account.Tier != Strategic || after.Revision != before.Revision {
				t.Errorf("after a failed Reload acme = %+v, want unchanged", after)
			}
			if _, ok := r.Account("umbrella"); !ok {
				t.Error("after a failed Reload umbrella is gone")
			}
		})
	}
}

func TestAnUnusableAccountInTheBucketIsNotServed(t *testing.T) {
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	r := startRegistry(t, b)
	ctx := testContext(t)
	kv, err := b.JetStream().KeyValue(ctx, BucketName)
	if err != nil {
		t.Fatal(err)
	}
	// Written around the accounts file's checks: an unknown tier, then a
	// valid account to know when the watch has passed both.
	if _, err := kv.Put(ctx, "account.broken", []byte(`{"id":"broken","tier":"gold","api_keys":["`+HashKey("k-broken")+`"]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "account.fine", []byte(`{"id":"fine","tier":"stable"}`)); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, func() error {
		if _, ok := r.Account("fine"); !ok {
			return bustest.ErrNotYet
		}
		return nil
	})
	if _, ok := r.Account("broken"); ok {
		t.Error("an account with an unknown tier is served")
	}
	if _, ok := r.Authenticate("k-broken"); ok {
		t.Error("an unusable account's key authenticates")
	}
}

func TestATierChangeAnnouncedTwiceIsStoredOnce(t *testing.T) {
	s := bustest.RunServer(t, "")
	b := bustest.New(t, s)
	r := startRegistry(t, b)
	ctx := testContext(t)
	// Two processes that apply the same change at the same revision make
	// the same event id, and JetStream keeps one.
	move := []announcement{{TierChange{Account: "acme", From: Strategic, To: Integrated}, 42}}
	for range 2 {
		if err := r.announce(ctx, move); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := b.JetStream().Stream(ctx, bus.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("%s holds %d messages after announcing one change twice, want 1", bus.StreamOut, info.State.Msgs)
	}
}
