package accounts

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
)

// BucketName is the JetStream KV bucket that holds the live accounts and
// warehouses, shared by every hub process.
const BucketName = "XD_ACCOUNTS"

// Keys of the bucket: account.<id> and warehouse.<id>, values the JSON of an
// Account or a Warehouse.
const (
	accountPrefix   = "account."
	warehousePrefix = "warehouse."
)

// bucketHistory is how many revisions of each key the bucket keeps: enough
// to see what a recent change replaced.
const bucketHistory = 5

// maxAttempts bounds the optimistic read-modify-write loops; a conflict means
// another process wrote the same key between our read and our write.
const maxAttempts = 10

// Source is the CloudEvents source of the events the registry makes.
const Source = "/crossdock/accounts"

// TierChangedName names the tier change event on subjects
// (xd.out.<account>.account.tier.changed); its type is bus.Type of it.
const TierChangedName = "account.tier.changed"

// ErrUnknownAccount is returned for an account id the registry does not hold,
// so that callers can answer unknown_account.
var ErrUnknownAccount = errors.New("unknown account")

// ErrInvalidTier is returned by SetTier for a name that is not a tier, or a
// tier under which the account's policy overrides do not validate: a bad
// request rather than a failure.
var ErrInvalidTier = errors.New("invalid tier")

// Entry is an account as services use it: the account, the effective policy
// computed once when it changed (not per event), and the KV revision it came
// from. Entries are shared and must not be modified.
type Entry struct {
	Account  Account
	Policy   Policy
	Revision uint64
}

// Identity is who an API key belongs to: an account or a warehouse (exactly
// one of the two is set).
type Identity struct {
	Account   string
	Warehouse string
}

// TierChange is an account's move from one tier to another; it is also the
// data of crossdock.account.tier.changed.v1. From equals To when nothing
// changed.
type TierChange struct {
	Account string `json:"account"`
	From    Tier   `json:"from"`
	To      Tier   `json:"to"`
}

// Registry is the live view of accounts and warehouses that every service
// asks on every event. It mirrors the XD_ACCOUNTS bucket into an immutable
// in-memory snapshot, so that reads are lock-free, and keeps it current from
// a bucket watch, so that a change made by any process (file reload, admin
// API) reaches every process without a restart.
type Registry struct {
	kv    jetstream.KeyValue
	bus   *bus.Bus
	tiers TierSet
	log   *zap.Logger

	mu   sync.Mutex // serialises snapshot writers; readers never take it
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable state of the registry. A change builds a new
// snapshot and swaps the pointer.
type snapshot struct {
	accounts   map[string]*Entry
	warehouses map[string]*Warehouse
	revs       map[string]uint64     // KV key → last revision applied, deletions included
	keys       map[string]holder     // API key digest → its holder
	users      map[string]*userEntry // normalised email → portal user
}

type holder struct {
	digest string
	Identity
}

// change is one KV entry to fold into the snapshot; value nil is a deletion.
type change struct {
	key   string
	value []byte
	rev   uint64
}

// NewRegistry opens (creating it if needed) the XD_ACCOUNTS bucket and loads
// its current content. Call Run to follow later changes made by other
// processes; changes made through this registry are visible at once.
func NewRegistry(ctx context.Context, b *bus.Bus, tiers TierSet, log *zap.Logger) (*Registry, error) {
	for _, t := range Tiers {
		if _, ok := tiers[t]; !ok {
			return nil, fmt.Errorf("account registry: tier %q has no policy", t)
		}
	}
	kv, err := b.Bucket(ctx, BucketName, "accounts and warehouses, mirrored from the accounts file and the admin API", bucketHistory)
	if err != nil {
		return nil, fmt.Errorf("account registry: %w", err)
	}
	r := &Registry{kv: kv, bus: b, tiers: tiers.Clone(), log: log}
	r.snap.Store(&snapshot{
		accounts:   map[string]*Entry{},
		warehouses: map[string]*Warehouse{},
		revs:       map[string]uint64{},
		keys:       map[string]holder{},
		users:      map[string]*userEntry{},
	})
	changes, err := r.readAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("account registry: load %s: %w", BucketName, err)
	}
	r.apply(changes)
	return r, nil
}

// readAll returns the bucket's current entries.
func (r *Registry) readAll(ctx context.Context) ([]change, error) {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return nil, err
	}
	defer stopWatcher(w)
	var out []change
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("watcher closed")
			}
			if e == nil { // all current values delivered
				return out, nil
			}
			out = append(out, changeOf(e))
		}
	}
}

// Run follows the bucket until ctx ends, folding every change into the
// snapshot within milliseconds of its write. It returns nil when ctx ends and
// an error when the watch breaks.
func (r *Registry) Run(ctx context.Context) error {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the watch began
		}
		return fmt.Errorf("account registry: watch %s: %w", BucketName, err)
	}
	defer stopWatcher(w)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("account registry: watch %s: watcher closed", BucketName)
			}
			var batch []change
			if e != nil {
				batch = append(batch, changeOf(e))
			}
			// Take what has already arrived too, so that a burst (a file
			// reload, the initial values) makes one snapshot, not one each.
		drain:
			for len(batch) < 1024 {
				select {
				case e, ok := <-w.Updates():
					if !ok {
						break drain
					}
					if e != nil {
						batch = append(batch, changeOf(e))
					}
				default:
					break drain
				}
			}
			r.apply(batch)
		}
	}
}

// stopWatcher stops w while draining its channel: the client's delivery
// callback blocks on a full channel, and would otherwise never see the stop.
func stopWatcher(w jetstream.KeyWatcher) {
	go func() {
		for range w.Updates() {
		}
	}()
	_ = w.Stop()
}

func changeOf(e jetstream.KeyValueEntry) change {
	c := change{key: e.Key(), rev: e.Revision()}
	if e.Operation() == jetstream.KeyValuePut {
		c.value = e.Value()
	}
	return c
}

// Account returns the account with this id and its effective policy. It is
// the hot path of every service: a lock-free read of the current snapshot.
// The entry is shared and must not be modified.
func (r *Registry) Account(id string) (*Entry, bool) {
	e, ok := r.snap.Load().accounts[id]
	return e, ok
}

// Warehouse returns the warehouse with this id. It is shared and must not be
// modified.
func (r *Registry) Warehouse(id string) (*Warehouse, bool) {
	w, ok := r.snap.Load().warehouses[id]
	return w, ok
}

// Authenticate returns who holds apiKey. The key is hashed first, so that
// neither the registry nor a timing difference holds anything about the key
// itself; the digest found is compared again in constant time.
func (r *Registry) Authenticate(apiKey string) (Identity, bool) {
	if apiKey == "" {
		return Identity{}, false
	}
	digest := HashKey(apiKey)
	h, ok := r.snap.Load().keys[digest]
	if !ok || subtle.ConstantTimeCompare([]byte(h.digest), []byte(digest)) != 1 {
		return Identity{}, false
	}
	return h.Identity, true
}

// Tiers returns a copy of the tier policies the registry computes effective
// policies from; services derive their lanes' filters from it.
func (r *Registry) Tiers() TierSet { return r.tiers.Clone() }

// Apply makes the bucket hold exactly the file's accounts and warehouses:
// it writes those that differ, deletes those no longer in the file, updates
// this process's snapshot before it returns (so the next event sees the
// change), and announces every tier change, which it returns. A file that
// does not validate changes nothing.
func (r *Registry) Apply(ctx context.Context, f *File) ([]TierChange, error) {
	if err := f.validate(r.tiers); err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	s := r.snap.Load()
	var (
		changes  []change
		moves    []announcement
		deleted  int
		firstErr error
	)
	for i := range f.Warehouses {
		w := &f.Warehouses[i]
		key := warehousePrefix + w.ID
		var prev []byte
		if cur, ok := s.warehouses[w.ID]; ok {
			prev = mustJSON(cur)
		}
		c, _, err := r.write(ctx, key, mustJSON(w), prev, s.revs[key])
		if err != nil {
			firstErr = err
			break
		}
		if c != nil {
			changes = append(changes, *c)
		}
	}
	for i := range f.Accounts {
		if firstErr != nil {
			break
		}
		a := &f.Accounts[i]
		key := accountPrefix + a.ID
		var prev []byte
		if cur, ok := s.accounts[a.ID]; ok {
			prev = mustJSON(&cur.Account)
		}
		c, old, err := r.write(ctx, key, mustJSON(a), prev, s.revs[key])
		if err != nil {
			firstErr = err
			break
		}
		if c == nil {
			continue
		}
		changes = append(changes, *c)
		var was Account
		if old != nil && json.Unmarshal(old, &was) == nil && was.Tier != a.Tier {
			moves = append(moves, announcement{TierChange{Account: a.ID, From: was.Tier, To: a.Tier}, c.rev})
		}
	}
	if firstErr == nil {
		keep := map[string]bool{}
		for _, a := range f.Accounts {
			keep[accountPrefix+a.ID] = true
		}
		for _, w := range f.Warehouses {
			keep[warehousePrefix+w.ID] = true
		}
		// Accounts first: a warehouse goes only once nothing refers to it.
		var gone []string
		for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
			gone = append(gone, accountPrefix+id)
		}
		for _, id := range slices.Sorted(maps.Keys(s.warehouses)) {
			gone = append(gone, warehousePrefix+id)
		}
		for _, key := range gone {
			if keep[key] {
				continue
			}
			rev, err := r.remove(ctx, key, s.revs[key])
			if err != nil {
				firstErr = err
				break
			}
			changes = append(changes, change{key: key, rev: rev})
			deleted++
		}
	}
	r.apply(changes)
	r.log.Info("accounts applied", zap.Int("accounts", len(f.Accounts)), zap.Int("warehouses", len(f.Warehouses)),
		zap.Int("written", len(changes)-deleted), zap.Int("deleted", deleted), zap.Int("tier_changes", len(moves)))
	err := r.announce(ctx, moves)
	out := make([]TierChange, len(moves))
	for i, m := range moves {
		out[i] = m.TierChange
	}
	if firstErr != nil {
		return out, fmt.Errorf("apply accounts: %w", firstErr)
	}
	return out, err
}

// SetTier moves an account to tier t: a read-modify-write of its KV entry
// guarded by the entry's revision (retried when another process wrote in
// between). The snapshot holds the new tier when SetTier returns, and the
// change is announced; setting the tier the account already has returns a
// TierChange with From == To and announces nothing.
func (r *Registry) SetTier(ctx context.Context, id string, t Tier) (TierChange, error) {
	if _, ok := r.tiers[t]; !ok {
		return TierChange{}, fmt.Errorf("set tier of %q to %q: %w: want one of %s", id, t, ErrInvalidTier, tierList())
	}
	if !ValidID(id) {
		return TierChange{}, fmt.Errorf("set tier of %q: %w", id, ErrUnknownAccount)
	}
	key := accountPrefix + id
	for range maxAttempts {
		e, err := r.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return TierChange{}, fmt.Errorf("set tier of %q: %w", id, ErrUnknownAccount)
		}
		if err != nil {
			return TierChange{}, fmt.Errorf("set tier of %q: read: %w", id, err)
		}
		var a Account
		if err := json.Unmarshal(e.Value(), &a); err != nil {
			return TierChange{}, fmt.Errorf("set tier of %q: decode revision %d: %w", id, e.Revision(), err)
		}
		tc := TierChange{Account: id, From: a.Tier, To: t}
		if a.Tier == t {
			r.apply([]change{{key: key, value: e.Value(), rev: e.Revision()}})
			return tc, nil
		}
		a.Tier = t
		if _, err := Effective(r.tiers, &a); err != nil {
			return TierChange{}, fmt.Errorf("set tier of %q to %q: %w: %w", id, t, ErrInvalidTier, err)
		}
		value := mustJSON(&a)
		rev, err := r.kv.Update(ctx, key, value, e.Revision())
		if bus.IsConflict(err) {
			continue
		}
		if err != nil {
			return TierChange{}, fmt.Errorf("set tier of %q: write: %w", id, err)
		}
		r.apply([]change{{key: key, value: value, rev: rev}})
		return tc, r.announce(ctx, []announcement{{tc, rev}})
	}
	return TierChange{}, fmt.Errorf("set tier of %q: still conflicting after %d attempts", id, maxAttempts)
}

// Reload reads the accounts file at path and applies it. A file that does
// not load changes nothing and its one-line error is returned.
func (r *Registry) Reload(ctx context.Context, path string) error {
	f, err := LoadFile(path, r.tiers)
	if err != nil {
		return err
	}
	if _, err := r.Apply(ctx, f); err != nil {
		return fmt.Errorf("accounts file %s: %w", path, err)
	}
	return nil
}

// write stores value under key unless the key already holds it. prev is the
// value this process last saw (nil: none) at revision known. On a conflict it
// rereads the key and tries again. It returns the change to fold into the
// snapshot (nil when prev already equals value) and the value it replaced.
func (r *Registry) write(ctx context.Context, key string, value, prev []byte, known uint64) (*change, []byte, error) {
	if bytes.Equal(prev, value) {
		return nil, nil, nil
	}
	exists, rev := prev != nil, known
	for attempt := range maxAttempts {
		if err := conflictPause(ctx, attempt); err != nil {
			return nil, nil, fmt.Errorf("write %s: %w", key, err)
		}
		var (
			n   uint64
			err error
		)
		if exists {
			n, err = r.kv.Update(ctx, key, value, rev)
		} else {
			n, err = r.kv.Create(ctx, key, value)
		}
		if err == nil {
			return &change{key: key, value: value, rev: n}, prev, nil
		}
		if bus.Transient(err) {
			continue // the bucket's leader is being elected: try again (a write that did land conflicts, and is reread)
		}
		if !bus.IsConflict(err) {
			return nil, nil, fmt.Errorf("write %s: %w", key, err)
		}
		e, err := r.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			exists, prev = false, nil
		case err != nil:
			return nil, nil, fmt.Errorf("write %s: reread: %w", key, err)
		case bytes.Equal(e.Value(), value):
			// Another process wrote the same: catch up, change nothing.
			return &change{key: key, value: value, rev: e.Revision()}, nil, nil
		default:
			exists, prev, rev = true, e.Value(), e.Revision()
		}
	}
	return nil, nil, fmt.Errorf("write %s: still conflicting after %d attempts", key, maxAttempts)
}

// remove deletes key, guarded by its last known revision, and returns a
// revision for the snapshot's tombstone: one above the last value seen, so
// that no older value of the key is folded in again while the watch catches
// up (the guard makes sure no value came between).
func (r *Registry) remove(ctx context.Context, key string, known uint64) (uint64, error) {
	rev := known
	for attempt := range maxAttempts {
		if err := conflictPause(ctx, attempt); err != nil {
			return 0, fmt.Errorf("delete %s: %w", key, err)
		}
		err := r.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		if err == nil {
			return rev + 1, nil
		}
		if bus.Transient(err) {
			continue
		}
		if !bus.IsConflict(err) {
			return 0, fmt.Errorf("delete %s: %w", key, err)
		}
		e, err := r.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return rev + 1, nil // deleted by someone else
		}
		if err != nil {
			return 0, fmt.Errorf("delete %s: reread: %w", key, err)
		}
		rev = e.Revision()
	}
	return 0, fmt.Errorf("delete %s: still conflicting after %d attempts", key, maxAttempts)
}

// conflictPause waits before a retry of a conflicting write (not before the
// first attempt): on a cluster the reread may come from a replica that has
// not yet stored the write that won (KV reads are direct gets, answered by
// any replica), and processes applying the same accounts file at the same
// moment would otherwise collide in step.
func conflictPause(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	d := time.Duration(attempt) * 20 * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d/2 + rand.N(d/2+1)):
		return nil
	}
}

// apply folds KV changes into a new snapshot. A change older than what the
// snapshot already holds for its key is skipped: the watch may deliver a
// value after this process wrote a newer one.
func (r *Registry) apply(changes []change) {
	if len(changes) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.snap.Load()
	var next *snapshot
	for _, c := range changes {
		revs := cur.revs
		if next != nil {
			revs = next.revs
		}
		if c.rev <= revs[c.key] {
			continue
		}
		if next == nil {
			next = &snapshot{
				accounts:   maps.Clone(cur.accounts),
				warehouses: maps.Clone(cur.warehouses),
				revs:       maps.Clone(cur.revs),
			}
		}
		next.revs[c.key] = c.rev
		switch {
		case strings.HasPrefix(c.key, accountPrefix):
			id := strings.TrimPrefix(c.key, accountPrefix)
			delete(next.accounts, id)
			if c.value == nil {
				continue
			}
			e, err := r.entry(id, c.value, c.rev)
			if err != nil {
				// Fail closed: an account whose policy cannot be computed
				// is not served rather than served with a guessed policy.
				r.log.Error("account unusable, not served until fixed", zap.String("account", id),
					zap.Uint64("revision", c.rev), zap.Error(err))
				continue
			}
			next.accounts[id] = e
		case strings.HasPrefix(c.key, warehousePrefix):
			id := strings.TrimPrefix(c.key, warehousePrefix)
			delete(next.warehouses, id)
			if c.value == nil {
				continue
			}
			var w Warehouse
			if err := json.Unmarshal(c.value, &w); err != nil || w.ID != id {
				r.log.Error("warehouse unusable, not served until fixed", zap.String("warehouse", id),
					zap.Uint64("revision", c.rev), zap.Error(err))
				continue
			}
			next.warehouses[id] = &w
		}
	}
	if next == nil {
		return
	}
	next.keys = r.index(next)
	next.users = indexUsers(next)
	r.snap.Store(next)
}

// entry decodes an account's KV value and computes its effective policy.
func (r *Registry) entry(id string, value []byte, rev uint64) (*Entry, error) {
	var a Account
	if err := json.Unmarshal(value, &a); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if a.ID != id {
		return nil, fmt.Errorf("id %q does not match its key", a.ID)
	}
	p, err := Effective(r.tiers, &a)
	if err != nil {
		return nil, err
	}
	return &Entry{Account: a, Policy: p, Revision: rev}, nil
}

// index maps every API key digest to its holder. A digest held twice
// (possible only if the bucket was written around the accounts file's
// checks) authenticates nobody.
func (r *Registry) index(s *snapshot) map[string]holder {
	keys := map[string]holder{}
	clash := map[string]bool{}
	add := func(digests []string, id Identity) {
		for _, d := range digests {
			if other, dup := keys[d]; dup {
				clash[d] = true
				r.log.Warn("api key digest held twice, it authenticates neither",
					zap.String("account", id.Account), zap.String("warehouse", id.Warehouse),
					zap.String("other_account", other.Account), zap.String("other_warehouse", other.Warehouse))
				continue
			}
			keys[d] = holder{digest: d, Identity: id}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.accounts)) {
		add(s.accounts[id].Account.APIKeys, Identity{Account: id})
	}
	for _, id := range slices.Sorted(maps.Keys(s.warehouses)) {
		add(s.warehouses[id].APIKeys, Identity{Warehouse: id})
	}
	for d := range clash {
		delete(keys, d)
	}
	return keys
}

// announcement is a tier change and the KV revision that made it, from which
// the event id is derived.
type announcement struct {
	TierChange
	rev uint64
}

// announce publishes crossdock.account.tier.changed.v1 for each move. The
// event id is derived from the account, both tiers and the revision, so two
// processes announcing the same change (or one retrying) publish it once.
func (r *Registry) announce(ctx context.Context, moves []announcement) error {
	if len(moves) == 0 {
		return nil
	}
	outs := make([]bus.Outgoing, 0, len(moves))
	for _, m := range moves {
		id := bus.DeriveID(accountPrefix+m.Account+"@"+strconv.FormatUint(m.rev, 10), "tier.changed/"+string(m.From)+"/"+string(m.To))
		ev, err := bus.NewRootEvent(id, bus.Type(TierChangedName), Source, m.Account, m.TierChange)
		if err != nil {
			return fmt.Errorf("announce tier change of %q: %w", m.Account, err)
		}
		outs = append(outs, bus.Outgoing{Subject: bus.OutSubject(m.Account, TierChangedName), Event: ev})
		r.log.Info("account tier changed", zap.String("account", m.Account),
			zap.String("from", string(m.From)), zap.String("to", string(m.To)), zap.Uint64("revision", m.rev))
	}
	if _, err := r.bus.Publish(ctx, outs...); err != nil {
		return fmt.Errorf("announce tier changes: %w", err)
	}
	return nil
}

// mustJSON encodes accounts and warehouses, which always encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("accounts: encode: " + err.Error())
	}
	return b
}
