package rfid

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tracksPerRequest is how many keys one batched read asks for; the server
// answers at most 1,024 messages to one request.
const tracksPerRequest = 512

// known is a track as read from the bucket: nil and revision 0 when the
// EPC has none.
type known struct {
	track *Track
	rev   uint64
}

// readTracks reads the tracks of keys with JetStream's batched direct get
// (the last message of each of many subjects, one request and one stream of
// replies) instead of one KV request, and one round trip, per key: a read
// storm's batch names 100 or more EPCs, most of them repeats that need only
// this read. A key without a track, or whose last operation deleted it, is
// the zero known.
func (s *Service) readTracks(ctx context.Context, keys []string) ([]known, error) {
	out := make([]known, len(keys))
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		at[kvPrefix+k] = i
	}
	for start := 0; start < len(keys); start += tracksPerRequest {
		subjects := make([]string, 0, tracksPerRequest)
		for _, k := range keys[start:min(len(keys), start+tracksPerRequest)] {
			subjects = append(subjects, kvPrefix+k)
		}
		if err := s.lastMsgs(ctx, subjects, func(m *nats.Msg) error {
			i, ok := at[m.Header.Get(jetstream.SubjectHeader)]
			if !ok {
				return fmt.Errorf("a reply for subject %q, which was not asked for", m.Header.Get(jetstream.SubjectHeader))
			}
			if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				return nil
			}
			rev, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil {
				return fmt.Errorf("track %s: sequence %q: %w", keys[i], m.Header.Get(jetstream.SequenceHeader), err)
			}
			t, err := decodeTrack(m.Data)
			if err != nil {
				return fmt.Errorf("decode track %s: %w", keys[i], err)
			}
			out[i] = known{track: t, rev: rev}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read %d tracks: %w", len(subjects), err)
		}
	}
	return out, nil
}

// readTimeout bounds a batched read; the batch is retried by the bus.
const readTimeout = 10 * time.Second

// kvPrefix is the subject prefix of the bucket's keys.
const kvPrefix = "$KV." + Bucket + "."

// lastMsgs asks the bucket's stream for the last message of each subject
// and hands each reply to each; none at all is no error.
func (s *Service) lastMsgs(ctx context.Context, subjects []string, each func(*nats.Msg) error) error {
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
	}{subjects})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	nc := s.bus.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+Bucket, inbox, req); err != nil {
		return err
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			if err := each(m); err != nil {
				return err
			}
		case "204": // end of the batch
			return nil
		case "404": // no subject has a message
			return nil
		default:
			return fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
		}
	}
}
