package rfid

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/lanes"
	"github.com/crossdock/crossdock/services/rfid/epc"
)

// Bucket is the KV bucket of EPC tracks: one entry per account and EPC with
// its last location, its open dedupe windows and its recent observations.
//
// Why a KV entry per EPC, rather than a bucket of dedupe keys with per-key
// TTLs or a stream with per-message TTLs: the dedupe decision and the
// location update must be made together, or a crash between two writes
// leaves an observation that deduplicates later reads but never moved the
// item (or the reverse). One revision-checked write per EPC and batch makes
// both atomic and safe across any number of rfid processes (a conflict is
// re-read and re-decided); it costs two KV round trips per distinct EPC in a
// batch instead of one per read, which matters when a read storm sends
// thousands of reads of a few tags; and windows are decided on the readers'
// read times, so a backlog replayed after an outage dedupes as the live
// traffic would have, where a TTL counts from when the hub got to it. The
// bucket is file-backed JetStream, so the state survives restarts.
const Bucket = "XD_RFID"

// source is the CloudEvents source of the events this service makes.
const source = "/crossdock/rfid"

// Event types the service takes and makes.
var (
	typeObserved = schemas.RFIDObserved
	typeCaptured = schemas.EPCISCaptured
	typeChanged  = schemas.RFIDLocationChanged
)

// maxConflicts bounds the re-reads of one EPC's track when other workers
// keep writing it; beyond it the batch is retried later by the bus.
const maxConflicts = 16

// Config configures the RFID service. The zero value is ready for use.
type Config struct {
	// Lanes sizes each lane; a missing lane gets priority 8, standard 4 or
	// bulk 2 workers, each with 64 batches in flight per worker.
	Lanes map[accounts.Lane]lanes.Size
	// Governor, when set, slows the bulk lane while priority events flow
	// and the process is short of CPU.
	Governor *lanes.Governor
	// Parallel is how many EPCs of one batch are read and written at once;
	// zero means 8.
	Parallel int
	// Metrics, when set, registers the service's collectors.
	Metrics prometheus.Registerer
}

// Service is the RFID service.
type Service struct {
	cfg Config
	bus *bus.Bus
	reg *accounts.Registry
	kv  jetstream.KeyValue
	log *zap.Logger
	// newest is what this process's batches in flight know of their
	// tracks, so that they do not conflict with each other.
	newest  newest
	metrics *metrics
}

// New opens the tracks bucket and returns the service.
func New(ctx context.Context, cfg Config, b *bus.Bus, reg *accounts.Registry, log *zap.Logger) (*Service, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	kv, err := b.Bucket(ctx, Bucket, "RFID: per account and EPC, the last location, dedupe windows and recent observations", 1)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, bus: b, reg: reg, kv: kv, log: log, metrics: newMetrics(cfg.Metrics)}, nil
}

// Run consumes every lane until ctx ends: one durable consumer per lane,
// filtered on the routed rfid.observed subjects of the lane's tiers.
func (s *Service) Run(ctx context.Context) error {
	return lanes.Run(ctx, s.bus, s.reg.Tiers(), lanes.Consumer{
		Service: "rfid", Source: source, Names: []string{bus.Name(typeObserved)}, Sizes: s.cfg.Lanes, Handler: s.Handle, Governor: s.cfg.Governor,
	})
}

// Read is one tag read of a crossdock.rfid.observed.v1 batch.
type Read struct {
	EPC     string    `json:"epc"`
	Antenna *int      `json:"antenna,omitempty"`
	RSSI    *float64  `json:"rssi,omitempty"`
	Time    time.Time `json:"time"`
}

// Observed is the data of crossdock.rfid.observed.v1.
type Observed struct {
	Reader    string `json:"reader"`
	ReadPoint string `json:"read_point"`
	Reads     []Read `json:"reads"`
}

// LocationChanged is the data of crossdock.rfid.location.changed.v1.
type LocationChanged struct {
	EPC  string    `json:"epc"`
	From string    `json:"from"`
	To   string    `json:"to"`
	Time time.Time `json:"time"`
}

// site is where a batch was read and what its reader's configuration says.
type site struct {
	readPoint   string
	bizStep     string
	disposition string
	window      time.Duration
}

// Handle is the consume handler of every lane. A batch whose read point is
// not the account's is rejected whole (unknown_read_point). Bad EPCs never
// spoil the rest of their batch: the good reads are processed and published,
// and the handler returns them together with an event.rejected that lists
// every bad read (code bad_epc, field reads[i].epc) and a *bus.Rejection, so
// that the sender learns which reads were dropped and the original batch is
// kept in the DLQ (xd.dlq.<account>.bad_epc) for inspection. Redriving it is
// safe: the good reads' decisions are stored per EPC with the batch's id and
// are answered again, not made twice.
func (s *Service) Handle(ctx context.Context, d *bus.Delivery) ([]bus.Outgoing, error) {
	ev := d.Event
	if ev.Type() != typeObserved {
		return nil, bus.Reject(bus.CodeUnknownType, "the rfid service does not take "+ev.Type(), "type")
	}
	account := bus.Account(ev)
	entry, ok := s.reg.Account(account)
	if !ok {
		return nil, bus.Reject(bus.CodeUnknownAccount, fmt.Sprintf("account %q is not known", account), "account")
	}
	if entry.Policy.RFID != "on" {
		// The router checks the menu; the tier may have changed since.
		return nil, bus.Reject(bus.CodeNotInTierMenu, fmt.Sprintf("%s goes to the rfid service, which the %s tier does not include", ev.Type(), entry.Account.Tier), "type")
	}
	var o Observed
	if err := json.Unmarshal(ev.Data(), &o); err != nil {
		return nil, bus.Reject(bus.CodeInvalidJSON, "rfid.observed data: "+err.Error(), "data")
	}
	st, rej := siteOf(&entry.Account, entry.Policy, &o)
	if rej != nil {
		return nil, rej
	}

	// Decode every read; group the good ones by EPC, in order of first read.
	// A storm repeats a few tags' hex many times: a repeat costs one map
	// look-up, and only a new hex is decoded (into a reused buffer).
	var bad []bus.Problem
	group := map[string]int{} // hex or URI → index in order
	var order []string
	var times [][]time.Time
	var buf []byte
	for i, r := range o.Reads {
		g, seen := group[r.EPC]
		if !seen {
			var err error
			buf, err = epc.AppendURI(buf[:0], r.EPC)
			if err != nil {
				var be *epc.Error
				msg := err.Error()
				if errors.As(err, &be) {
					msg = be.Reason
				}
				bad = append(bad, bus.Problem{Code: bus.CodeBadEPC, Message: fmt.Sprintf("EPC %s: %s", r.EPC, msg), Field: fmt.Sprintf("reads[%d].epc", i)})
				continue
			}
			// The same EPC may come in upper and lower case hex.
			if g, seen = group[string(buf)]; !seen {
				g = len(order)
				uri := string(buf)
				order = append(order, uri)
				times = append(times, nil)
				group[uri] = g
			}
			group[r.EPC] = g
		}
		times[g] = append(times[g], r.Time)
	}

	results, err := s.applyAll(ctx, account, ev.ID(), &o, st, order, times)
	if err != nil {
		return nil, err
	}
	var outs []bus.Outgoing
	var epcs []string
	var first time.Time
	for i, uri := range order {
		r := results[i]
		if len(r.observed) == 0 {
			continue
		}
		epcs = append(epcs, uri)
		for _, tm := range r.observed {
			if first.IsZero() || tm.Before(first) {
				first = tm
			}
		}
	}
	if len(epcs) > 0 {
		oe := NewObjectEvent(first, epcs, st.bizStep, st.disposition, st.readPoint)
		captured, err := bus.NewEvent(ev, typeCaptured, "", source, oe)
		if err != nil {
			return nil, err
		}
		outs = append(outs, bus.Outgoing{Subject: bus.OutSubject(account, bus.Name(typeCaptured)), Event: captured})
	}
	for i, uri := range order {
		m := results[i].move
		if m == nil {
			continue
		}
		changed, err := bus.NewEvent(ev, typeChanged, uri, source, LocationChanged{EPC: uri, From: m.From, To: m.To, Time: m.Time.UTC()})
		if err != nil {
			return nil, err
		}
		outs = append(outs, bus.Outgoing{Subject: bus.OutSubject(account, bus.Name(typeChanged)), Event: changed})
	}
	if ce := s.log.Check(zap.DebugLevel, "rfid batch"); ce != nil {
		ce.Write(zap.String("account", account), zap.String("event", ev.ID()), zap.Int("reads", len(o.Reads)),
			zap.Int("epcs", len(order)), zap.Int("observed", len(epcs)), zap.Int("bad", len(bad)))
	}
	if len(bad) > 0 {
		r := &bus.Rejection{Problems: bad}
		rej, err := bus.RejectionEvent(ev, "", source, bus.Sender{Account: account}, r)
		if err != nil {
			return nil, err
		}
		outs = append(outs, bus.Outgoing{Subject: bus.OutSubject(account, "event.rejected"), Event: rej})
		return outs, r
	}
	return outs, nil
}

// siteOf checks the batch's read point against the account's locations and
// its reader's configuration, and returns what the reads get.
func siteOf(a *accounts.Account, p accounts.Policy, o *Observed) (site, *bus.Rejection) {
	st := site{readPoint: o.ReadPoint, bizStep: DefaultBizStep, window: DefaultWindow}
	if p.RFIDDedupeWindow > 0 {
		st.window = time.Duration(p.RFIDDedupeWindow)
	}
	gln, err := accounts.ReadPointGLN(o.ReadPoint)
	if err != nil {
		return st, bus.Reject(bus.CodeUnknownReadPoint, err.Error(), "read_point")
	}
	if _, ok := a.Location(gln); !ok {
		return st, bus.Reject(bus.CodeUnknownReadPoint, fmt.Sprintf("read point %s (GLN %s) is not at a location of account %s", o.ReadPoint, gln, a.ID), "read_point")
	}
	if r, ok := a.Reader(o.Reader); ok {
		if r.ReadPoint != o.ReadPoint {
			return st, bus.Reject(bus.CodeUnknownReadPoint, fmt.Sprintf("reader %s is configured at %s, not %s", r.ID, r.ReadPoint, o.ReadPoint), "read_point")
		}
		if r.BizStep != "" {
			st.bizStep = r.BizStep
		}
		st.disposition = r.Disposition
		if r.Dedupe > 0 {
			st.window = time.Duration(r.Dedupe)
		}
	}
	return st, nil
}

// result is what one EPC of a batch came to.
type result struct {
	observed []time.Time
	move     *Move
}

// applyAll steps every EPC of the batch, cfg.Parallel at a time, from their
// tracks read in one batched request (each EPC reads its own again only
// after a conflict, or when the batched read failed), or from what another
// batch of this process wrote since (see newest).
func (s *Service) applyAll(ctx context.Context, account, eventID string, o *Observed, st site, order []string, times [][]time.Time) ([]result, error) {
	keys := make([]string, len(order))
	for i, uri := range order {
		keys[i] = trackKey(account, uri)
	}
	// Entered before the read: see newest.
	slots := s.newest.enter(keys)
	defer s.newest.leave(keys, slots)
	firsts, err := s.readTracks(ctx, keys)
	if err != nil {
		s.log.Warn("batched read of rfid tracks; reading them one by one", zap.String("account", account), zap.Int("epcs", len(keys)), zap.Error(err))
	}
	results := make([]result, len(order))
	errs := make([]error, len(order))
	// Every EPC is stepped even when one fails: each failure is reported.
	var g errgroup.Group
	g.SetLimit(s.cfg.Parallel)
	for i, uri := range order {
		var first *known
		if firsts != nil {
			first = &firsts[i]
		}
		g.Go(func() error {
			results[i].observed, results[i].move, errs[i] = s.apply(ctx, slots[i], keys[i], uri, eventID, o.Reader, st, times[i], first)
			return nil
		})
	}
	_ = g.Wait()
	return results, errors.Join(errs...)
}

// apply steps an EPC's track from the newer of first (nil: read it now) and
// what this process last knew of it, and writes it back at the revision it
// stepped from, re-reading on conflict with another process. It holds the
// key's slot meanwhile, so that this process's batches step a track one at
// a time, each from the one before's write.
func (s *Service) apply(ctx context.Context, sl *slot, key, uri, eventID, reader string, st site, times []time.Time, first *known) ([]time.Time, *Move, error) {
	if err := sl.acquire(ctx); err != nil {
		return nil, nil, fmt.Errorf("wait for track %s: %w", uri, err)
	}
	defer sl.release()
	for range maxConflicts {
		var cur known
		if first != nil {
			cur, first = sl.newer(*first), nil
		} else {
			// Read under the slot's lock: as new as anything this process
			// wrote, and newer than the slot after a conflict (or a delete).
			t, rev, err := s.get(ctx, key)
			if err != nil {
				return nil, nil, err
			}
			cur = known{track: t, rev: rev}
			sl.k, sl.set = cur, true
		}
		next, observed, move := Step(cur.track, uri, st.readPoint, reader, eventID, times, st.window)
		if next == cur.track {
			return observed, move, nil // nothing new, or a redelivery already stored
		}
		b, err := next.appendJSON(make([]byte, 0, 1024))
		if err != nil {
			return nil, nil, fmt.Errorf("encode track %s: %w", uri, err)
		}
		var rev uint64
		if cur.track == nil {
			rev, err = s.kv.Create(ctx, key, b)
		} else {
			rev, err = s.kv.Update(ctx, key, b, cur.rev)
		}
		if err == nil {
			sl.keep(known{track: next, rev: rev})
			s.metrics.writes.WithLabelValues("stored").Inc()
			return observed, move, nil
		}
		if !bus.IsConflict(err) {
			return nil, nil, fmt.Errorf("write track %s: %w", uri, err)
		}
		s.metrics.writes.WithLabelValues("conflict").Inc()
	}
	return nil, nil, fmt.Errorf("write track %s: still conflicting after %d attempts", uri, maxConflicts)
}

// get reads a track; a missing key is (nil, 0, nil).
func (s *Service) get(ctx context.Context, key string) (*Track, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read track %s: %w", key, err)
	}
	t, err := decodeTrack(e.Value())
	if err != nil {
		return nil, 0, fmt.Errorf("decode track %s: %w", key, err)
	}
	return t, e.Revision(), nil
}

// trackKey is the bucket key of an account's EPC. The pure identity URI is
// base64url-encoded into the key alphabet (it has colons, and an SGLN with
// no location reference has an empty field).
func trackKey(account, uri string) string {
	return "t." + account + "." + base64.RawURLEncoding.EncodeToString([]byte(uri))
}
