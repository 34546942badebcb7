package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
)

// sendUsage explains crossdock send.
const sendUsage = `usage: crossdock send [flags] FILE

Send a partner's file (X12, CSV, cXML, … through the hub's adapters) or a
CloudEvent (JSON, structured mode) to a running hub, over HTTP or NATS, as an
account or a warehouse would. FILE "-" reads standard input. Prints the hub's
answer; exits 1 when the hub refused.

  crossdock send --api-key xd_dev_acme orders.edi
  crossdock send --api-key xd_dev_umbrella --format csv orders.txt
  crossdock send --api-key xd_dev_acme event.json
  crossdock send --nats nats://127.0.0.1:4222 --user acme --api-key xd_dev_acme orders.edi
  crossdock send --api-key xd_dev_dc_east --account acme asn.edi      (a warehouse's 856)

Flags (each also CROSSDOCK_<NAME>):
`

// sendOptions are the flags of crossdock send.
type sendOptions struct {
	url       string // hub HTTP base URL
	natsURL   string // when set, send over NATS instead
	user      string // NATS user: the account or warehouse id
	warehouse bool   // the NATS user is a warehouse
	apiKey    string
	format    string // adapter format, or "event"
	account   string // for a warehouse's file: the account it concerns
	timeout   time.Duration
	file      string
}

func parseSendFlags(args []string, stderr io.Writer) (sendOptions, error) {
	var o sendOptions
	fs := flag.NewFlagSet("crossdock send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, sendUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the hub's HTTP API")
	fs.StringVar(&o.natsURL, "nats", "", "send over NATS to this server instead of HTTP (files to xd.raw.…, events to xd.in.…)")
	fs.StringVar(&o.user, "user", "", "NATS user: the account (or warehouse) id the API key belongs to")
	fs.BoolVar(&o.warehouse, "warehouse", false, "the NATS user is a warehouse (subjects xd.raw.wh.…, xd.in.wh.…)")
	fs.StringVar(&o.apiKey, "api-key", "", "the account's or warehouse's API key")
	fs.StringVar(&o.format, "format", "", "x12, csv, cxml, … or event (default: from the file's extension: .edi/.x12, .csv, .xml, .json)")
	fs.StringVar(&o.account, "account", "", "for a warehouse's file that names no ship-to: the account it concerns")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the hub")
	if err := envDefaults(fs); err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return o, errors.New("send: name one FILE (or - for standard input)")
	}
	o.file = fs.Arg(0)
	if o.apiKey == "" {
		return o, errors.New("send: --api-key (or CROSSDOCK_API_KEY) is required")
	}
	if o.natsURL != "" && o.user == "" {
		return o, errors.New("send: --user names the account or warehouse to connect to NATS as")
	}
	if o.format == "" {
		o.format = formatOf(o.file)
		if o.format == "" {
			return o, fmt.Errorf("send: cannot tell the format of %q from its extension: give --format", o.file)
		}
	}
	return o, nil
}

// formatOf guesses a format from a file name: a CloudEvent for .json, else
// the adapter whose extensions include the name's.
func formatOf(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".json" {
		return "event"
	}
	for _, info := range adapters.List() {
		if slices.Contains(info.Extensions, ext) {
			return info.Format
		}
	}
	return ""
}

// contentTypeOf is the media type a file of format is posted as: its
// adapter's usual one (application/octet-stream for a format this build has
// no adapter for: the hub decides).
func contentTypeOf(format string) string {
	for _, info := range adapters.List() {
		if info.Format == format && len(info.ContentTypes) > 0 {
			return info.ContentTypes[0]
		}
	}
	return "application/octet-stream"
}

// send runs crossdock send.
func send(args []string, stdout, stderr io.Writer) error {
	o, err := parseSendFlags(args, stderr)
	if err != nil {
		return err
	}
	var data []byte
	if o.file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.natsURL != "" {
		return sendNATS(ctx, o, data, stdout)
	}
	return sendHTTP(ctx, o, data, stdout)
}

// sendHTTP posts to /v1/events or /v1/ingest/{format}.
func sendHTTP(ctx context.Context, o sendOptions, data []byte, stdout io.Writer) error {
	path, ct := "/v1/ingest/"+o.format, contentTypeOf(o.format)
	if o.format == "event" {
		path, ct = "/v1/events", bus.ContentTypeStructured
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
			ct = "application/cloudevents-batch+json"
		}
	}
	if o.account != "" && o.format != "event" {
		path += "?account=" + o.account
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.url, "/")+path, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+o.apiKey)
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(stdout, "%s %s\n%s", resp.Status, path, body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("send: the hub answered %s", resp.Status)
	}
	return nil
}

// sendNATS publishes to JetStream and waits for the store acknowledgment: a
// file to xd.raw.<account>.<format> (with the SHA-256 of its bytes as its
// id, so that sending it twice stores it once), an event to
// xd.in.<account>.<name> in structured mode (the hub keys it by its id).
// The hub's intake relay scopes either key by the sender. A refusal at the
// door (too large, over quota) is the publish's error; what the hub then
// makes of a stored message arrives on the sender's own subjects
// (event.rejected when it is refused).
func sendNATS(ctx context.Context, o sendOptions, data []byte, stdout io.Writer) error {
	inbox, from := "_INBOX_"+o.user, bus.Sender{Account: o.user}
	if o.warehouse {
		inbox, from = "_INBOX_wh_"+o.user, bus.Sender{Warehouse: o.user}
	}
	nc, err := nats.Connect(o.natsURL, nats.UserInfo(o.user, o.apiKey), nats.CustomInboxPrefix(inbox), nats.Name("crossdock send"))
	if err != nil {
		return fmt.Errorf("send: connect to %s: %w", o.natsURL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	msg := &nats.Msg{Header: nats.Header{}, Data: data}
	if o.format == "event" {
		var ev struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(data, &ev); err != nil || ev.ID == "" || ev.Type == "" {
			return fmt.Errorf("send: %s is not a structured CloudEvent with id and type (%v)", o.file, err)
		}
		msg.Subject = bus.InSubject(from, bus.Name(ev.Type))
		msg.Header.Set("Content-Type", bus.ContentTypeStructured)
	} else {
		sum := sha256.Sum256(data)
		msg.Subject = bus.RawSubject(from, o.format)
		msg.Header.Set("Nats-Msg-Id", "file:"+hex.EncodeToString(sum[:16]))
		if o.account != "" {
			msg.Header.Set("Crossdock-Account", o.account)
		}
	}
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("send: publish %s: %w", msg.Subject, err)
	}
	dup := ""
	if ack.Duplicate {
		dup = " (already stored: a duplicate)"
	}
	fmt.Fprintf(stdout, "stored in %s as message %d on %s%s\n", ack.Stream, ack.Sequence, msg.Subject, dup)
	return nil
}
