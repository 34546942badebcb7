package bus

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Headers of a partner's file that the hub itself stores in XD_RAW (a file
// posted over HTTP, decoded at the door). The intake relay drops them from
// what clients publish on xd.raw, so that only the hub can set them.
const (
	// HeaderFilePrefix starts every one of them.
	HeaderFilePrefix = "Crossdock-File-"
	// HeaderFileDecoded says the file was decoded when it was stored, and
	// by which intake (api, portal): the raw consumer must not decode it
	// again.
	HeaderFileDecoded = "Crossdock-File-Decoded"
	// HeaderFileID is the file's id: the causationid of the events made
	// from it.
	HeaderFileID = "Crossdock-File-Id"
	// HeaderFilePart is "i/n" on the i-th of the n messages of a file
	// stored in parts.
	HeaderFilePart = "Crossdock-File-Part"
)

// FilePartSize is the largest part of a file one XD_RAW message holds. A
// file posted over HTTP may be up to 8 MiB, a NATS message only up to the
// server's max_payload (1 MiB by default, 2 MiB for the embedded server and
// deploy/nats): larger files are stored as consecutive parts, each well
// under any max_payload the hub runs with.
const FilePartSize = 512 << 10

// FileMsgs is a file as the hub stores it in XD_RAW on subject (an
// xd.intake.xd.raw.… subject): one message when it fits in FilePartSize,
// else one per part with HeaderFilePart, each with h's headers. ids are
// their Nats-Msg-Ids: key, and key/i/n for the parts, so that storing the
// same file again stores nothing.
func FileMsgs(subject, key string, h nats.Header, data []byte) (msgs []*nats.Msg, ids []string) {
	n := max((len(data)+FilePartSize-1)/FilePartSize, 1)
	for i := range n {
		part := data[i*FilePartSize : min((i+1)*FilePartSize, len(data))]
		mh := nats.Header{}
		for k, v := range h {
			mh[k] = append([]string(nil), v...)
		}
		id := key
		if n > 1 {
			mh.Set(HeaderFilePart, fmt.Sprintf("%d/%d", i+1, n))
			id = fmt.Sprintf("%s/%d/%d", key, i+1, n)
		}
		msgs = append(msgs, &nats.Msg{Subject: subject, Header: mh, Data: part})
		ids = append(ids, id)
	}
	return msgs, ids
}

// FileJoiner puts files stored in parts back together while XD_RAW is read
// in order. It holds at most MaxJoining files' parts at once, dropping the
// oldest unfinished one beyond that.
type FileJoiner struct {
	joining map[string]*joining
	order   []string
}

// MaxJoining bounds the files a FileJoiner assembles at once (each up to
// 8 MiB).
const MaxJoining = 8

type joining struct {
	parts [][]byte
	have  int
}

// Add takes the next message read; it returns the whole file when the
// message completes one (or is a whole file itself), else false.
func (j *FileJoiner) Add(h nats.Header, data []byte) ([]byte, bool) {
	part := h.Get(HeaderFilePart)
	if part == "" {
		return data, true
	}
	si, sn, _ := strings.Cut(part, "/")
	i, err1 := strconv.Atoi(si)
	n, err2 := strconv.Atoi(sn)
	if err1 != nil || err2 != nil || n < 1 || n > 1024 || i < 1 || i > n {
		return nil, false
	}
	if j.joining == nil {
		j.joining = map[string]*joining{}
	}
	id := h.Get(HeaderFileID) + "\x00" + sn
	f, ok := j.joining[id]
	if !ok {
		if len(j.order) >= MaxJoining {
			delete(j.joining, j.order[0])
			j.order = j.order[1:]
		}
		f = &joining{parts: make([][]byte, n)}
		j.joining[id] = f
		j.order = append(j.order, id)
	}
	if f.parts[i-1] == nil {
		f.parts[i-1] = data
		f.have++
	}
	if f.have < n {
		return nil, false
	}
	delete(j.joining, id)
	for k, o := range j.order {
		if o == id {
			j.order = append(j.order[:k], j.order[k+1:]...)
			break
		}
	}
	return bytes.Join(f.parts, nil), true
}
