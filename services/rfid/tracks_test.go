package rfid

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/crossdock/crossdock/bus/bustest"
)

// TestReadTracksInOneRequest stores tracks, deletes one, updates another
// and reads them back with keys that have none, in more than one request's
// worth: each key gets its own track and revision, or none.
func TestReadTracksInOneRequest(t *testing.T) {
	srv := bustest.RunServer(t, "")
	ctx := context.Background()
	svc := process(t, ctx, bustest.New(t, srv))
	n := tracksPerRequest + 10
	keys := make([]string, n)
	revs := make([]uint64, n)
	for i := range keys {
		uri := fmt.Sprintf("urn:epc:id:sgtin:0614141.812345.%d", i)
		keys[i] = trackKey("acme", uri)
		if i%3 == 0 {
			continue // never stored
		}
		b, _ := json.Marshal(Track{EPC: uri, Location: "dock"})
		rev, err := svc.kv.Create(ctx, keys[i], b)
		if err != nil {
			t.Fatal(err)
		}
		revs[i] = rev
	}
	if err := svc.kv.Delete(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	revs[1] = 0
	b, _ := json.Marshal(Track{EPC: "moved", Location: "back"})
	rev, err := svc.kv.Update(ctx, keys[2], b, revs[2])
	if err != nil {
		t.Fatal(err)
	}
	revs[2] = rev

	got, err := svc.readTracks(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range got {
		if k.rev != revs[i] || (k.track == nil) != (revs[i] == 0) {
			t.Fatalf("key %d: revision %d, track %v; want revision %d", i, k.rev, k.track, revs[i])
		}
	}
	if got[2].track.Location != "back" {
		t.Errorf("updated track read as %+v", got[2].track)
	}
	if none, err := svc.readTracks(ctx, keys[:1]); err != nil || none[0].track != nil {
		t.Errorf("a key never stored: %+v, %v", none, err)
	}
}
