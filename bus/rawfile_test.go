package bus

import (
	"bytes"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestAFileStoredInPartsIsJoinedBack(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		parts int
	}{
		{"a small file is one message", 1000, 1},
		{"a file of exactly one part is one message", FilePartSize, 1},
		{"an 8 MiB file is sixteen parts", 8 << 20, 16},
		{"a file one byte over a part is two", FilePartSize + 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			h := nats.Header{HeaderFileID: {"sha256:abc"}}
			msgs, ids := FileMsgs("xd.intake.xd.raw.acme.x12", "acme:sha256:abc", h, data)
			if len(msgs) != tc.parts || len(ids) != tc.parts {
				t.Fatalf("%d messages, %d ids, want %d", len(msgs), len(ids), tc.parts)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Errorf("id %s twice", id)
				}
				seen[id] = true
			}
			// Read back in reverse, with a part of another file between: the
			// joiner gives the whole file once, at its last missing part.
			var j FileJoiner
			other, _ := FileMsgs("s", "k", nats.Header{HeaderFileID: {"sha256:other"}}, make([]byte, 2*FilePartSize))
			if _, ok := j.Add(other[0].Header, other[0].Data); ok {
				t.Fatal("half of another file made a whole one")
			}
			var got []byte
			for i := len(msgs) - 1; i >= 0; i-- {
				if msgs[i].Header.Get(HeaderFileID) != "sha256:abc" {
					t.Errorf("part %d lost the file's headers", i)
				}
				if len(msgs[i].Data) > FilePartSize {
					t.Errorf("part %d holds %d bytes, over %d", i, len(msgs[i].Data), FilePartSize)
				}
				whole, ok := j.Add(msgs[i].Header, msgs[i].Data)
				if ok != (i == 0) {
					t.Fatalf("part %d: whole = %v", i, ok)
				}
				got = whole
			}
			if !bytes.Equal(got, data) {
				t.Errorf("joined %d bytes, not the %d sent", len(got), len(data))
			}
		})
	}
}
