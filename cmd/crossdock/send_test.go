package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/services/accounts"
)

// startHub runs a hub with one account, acme (key "key-acme"), for send to talk to.
func startHub(t *testing.T) *hub.Hub {
	t.Helper()
	dir := t.TempDir()
	accountsFile := filepath.Join(dir, "accounts.yaml")
	y := fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]}
accounts:
  - id: acme
    name: ACME
    tier: strategic
    api_keys: [%q]
    locations: [{gln: "0614141000005", type: dc, warehouse: dc-east}]
`, accounts.HashKey("key-dc"), accounts.HashKey("key-acme"))
	if err := os.WriteFile(accountsFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := hub.Start(context.Background(), hub.Config{HTTP: "127.0.0.1:0", NATSListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Accounts: accountsFile, Services: []string{"all"}, Replicas: 1, Fsync: "interval"}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Stop()
		if err := h.Wait(); err != nil {
			t.Error(err)
		}
	})
	return h
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSend(t *testing.T) {
	h := startHub(t)
	date := time.Now().UTC().AddDate(0, 0, 30)
	edi := fmt.Sprintf("ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*000000001*0*P*>~\n", "", "", "ACME", "CROSSDOCK") +
		"GS*PO*ACME*CROSSDOCK*20261124*0900*1*X*004010~\nST*850*0001~\nBEG*00*SA*SEND-1**20261124~\nDTM*002*" + date.Format("20060102") +
		"~\nN1*ST**UL*0614141000005~\nPO1*1*3*EA***UK*00614141123452~\nSE*6*0001~\nGE*1*1~\nIEA*1*000000001~\n"
	ediFile := write(t, "order.edi", edi)
	url := "http://" + h.HTTPAddr()
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		output  string
	}{
		{name: "an X12 file over HTTP is accepted", args: []string{"--url", url, "--api-key", "key-acme", ediFile}, output: "202 Accepted /v1/ingest/x12"},
		{name: "a CSV file with a bad quantity is refused with its line", args: []string{"--url", url, "--api-key", "key-acme",
			write(t, "o.csv", "po_number,ship_to,requested_date,gtin,quantity\nSEND-2,0614141000005,"+date.Format(time.DateOnly)+",00614141123452,many\n")},
			wantErr: true, output: "line 2 column quantity"},
		{name: "a CloudEvent over HTTP is accepted", args: []string{"--url", url, "--api-key", "key-acme", write(t, "e.json",
			`{"specversion":"1.0","id":"send-3","source":"/accounts/acme","type":"crossdock.order.placed.v1","datacontenttype":"application/json",`+
				`"data":{"po_number":"SEND-3","ship_to":"0614141000005","requested_date":"`+date.Format(time.DateOnly)+`","lines":[{"line":1,"gtin":"00614141123452","quantity":1,"unit":"EA"}]}}`)},
			output: `{"accepted":["send-3"]}`},
		{name: "an X12 file over NATS is stored in XD_RAW", args: []string{"--nats", h.NATSURL(), "--user", "acme", "--api-key", "key-acme", ediFile}, output: "stored in XD_RAW"},
		{name: "the same file over NATS again is stored once", args: []string{"--nats", h.NATSURL(), "--user", "acme", "--api-key", "key-acme", ediFile}, output: "duplicate"},
		{name: "a wrong key is refused", args: []string{"--url", url, "--api-key", "nope", ediFile}, wantErr: true, output: "401"},
		{name: "a file of unknown extension needs --format", args: []string{"--api-key", "k", "order.txt"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := send(tc.args, &out, &errOut)
			if (err != nil) != tc.wantErr {
				t.Fatalf("send(%v) error = %v, want error %v; output:\n%s", tc.args, err, tc.wantErr, out.String())
			}
			if !strings.Contains(out.String(), tc.output) {
				t.Errorf("output %q does not contain %q", out.String(), tc.output)
			}
		})
	}
}

// TestSendTakesFormatsAndContentTypesFromTheAdapters checks that every
// extension an adapter names (in any case) picks its format, posted as its
// usual content type; .json is a CloudEvent and anything else needs --format.
func TestSendTakesFormatsAndContentTypesFromTheAdapters(t *testing.T) {
	for _, info := range adapters.List() {
		for _, ext := range info.Extensions {
			if got := formatOf("FILE" + strings.ToUpper(ext)); got != info.Format {
				t.Errorf("formatOf(FILE%s) = %q, want %q", strings.ToUpper(ext), got, info.Format)
			}
		}
		if got := contentTypeOf(info.Format); got != info.ContentTypes[0] {
			t.Errorf("contentTypeOf(%s) = %q, want %q", info.Format, got, info.ContentTypes[0])
		}
	}
	if got := formatOf("orders.edi"); got != "x12" {
		t.Errorf("formatOf(orders.edi) = %q, want x12", got)
	}
	if got, other := formatOf("event.json"), formatOf("notes.txt"); got != "event" || other != "" {
		t.Errorf("formatOf(event.json), formatOf(notes.txt) = %q, %q; want event and none", got, other)
	}
	if got := contentTypeOf("no-such-format"); got != "application/octet-stream" {
		t.Errorf("contentTypeOf(no-such-format) = %q, want application/octet-stream", got)
	}
}
