package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/crossdock/crossdock/adapters/all" // the file formats the hub reads
	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/hub"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(webtest.Main(m)) }

// Locations of the test accounts.
const (
	acmeDC      = "0614141000005"
	acmeStore   = "0614141000012"
	globexDC    = "0614141000029"
	umbrellaDC  = "0614141000104" // stable, orders taken every day
	umbrellaShp = "0614141000111" // its store: refused, the tier delivers to DCs
	laterDC     = "0614141000050" // stable, orders taken on no day near today: held
	gtin        = "00614141123452"
)

// key is the API key of an account or warehouse in the test file.
func key(id string) string { return "key-" + id }

// accountsFile is the test accounts file: a strategic account (acme), an
// integrated one (globex), two stable ones (umbrella, taking orders every
// day; later, whose ordering days are neither today nor tomorrow) and two
// warehouses. extra is appended to acme's entry (users).
func accountsFile(extra map[string]string) string {
	today := time.Now().UTC().Weekday()
	var held []string
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d != today && d != (today+1)%7 {
			held = append(held, strings.ToLower(d.String()[:3]))
		}
	}
	return fmt.Sprintf(`warehouses:
  - {id: dc-east, api_keys: [%q]%s}
  - {id: dc-west, api_keys: [%q]}
accounts:
  - id: acme
    name: ACME Retail
    tier: strategic
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-east}
%s
  - id: globex
    name: Globex
    tier: integrated
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-east}]
%s
  - id: umbrella
    name: Umbrella
    tier: stable
    api_keys: [%q]
    locations:
      - {gln: %q, type: dc, warehouse: dc-east}
      - {gln: %q, type: store, warehouse: dc-east}
    policy: {order_days: all}
%s
  - id: later
    name: Later Ltd
    tier: stable
    api_keys: [%q]
    locations: [{gln: %q, type: dc, warehouse: dc-west}]
    policy: {order_days: [%s]}
`,
		accounts.HashKey(key("dc-east")), extra["dc-east"], accounts.HashKey(key("dc-west")),
		accounts.HashKey(key("acme")), acmeDC, acmeStore, extra["acme"],
		accounts.HashKey(key("globex")), globexDC, extra["globex"],
		accounts.HashKey(key("umbrella")), umbrellaDC, umbrellaShp, extra["umbrella"],
		accounts.HashKey(key("later")), laterDC, strings.Join(held, ", "))
}

// env is a hub with every service, the portal on its HTTP address.
type env struct {
	t     testing.TB
	hub   *hub.Hub
	base  string
	file  string
	extra map[string]string
}

// start starts a hub for one test.
func start(t testing.TB) *env { return startWith(t, nil) }

// startWith starts a hub for one test with its configuration changed by
// configure (nil: the defaults).
func startWith(t testing.TB, configure func(*hub.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, file: filepath.Join(dir, "accounts.yaml"), extra: testUsers(t)}
	e.writeAccounts()
	cfg := hub.Config{
		HTTP: "127.0.0.1:0", NATSListen: "none", Data: filepath.Join(dir, "data"), Accounts: e.file,
		Services: []string{"all"}, Replicas: 1, Fsync: "interval",
	}
	if configure != nil {
		configure(&cfg)
	}
	h, err := hub.Start(context.Background(), cfg, bustest.Logger(t))
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() {
		h.Stop()
		if err := h.Wait(); err != nil {
			t.Errorf("hub stopped with: %v", err)
		}
	})
	e.hub, e.base = h, "http://"+h.HTTPAddr()
	return e
}

func (e *env) writeAccounts() {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(accountsFile(e.extra)), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed, so tests see them.
type client struct {
	e    *env
	http *http.Client
	csrf string // the last page's token
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a portal path and remembers the page's CSRF token.
func (c *client) get(path string) (int, string) {
	c.e.t.Helper()
	resp, err := c.http.Get(c.e.base + path)
	if err != nil {
		c.e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = html.UnescapeString(string(m[1]))
	}
	return resp.StatusCode, string(b)
}

// post sends a form; the CSRF token is the page's unless form has one.
func (c *client) post(path string, form url.Values) (int, string, http.Header) {
	c.e.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	resp, err := c.http.PostForm(c.e.base+path, form)
	if err != nil {
		c.e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = html.UnescapeString(string(m[1]))
	}
	return resp.StatusCode, string(b), resp.Header
}

// signInKey signs the client in with an API key.
func (c *client) signInKey(apiKey string) {
	c.e.t.Helper()
	c.get("/portal/signin")
	status, body, _ := c.post("/portal/signin", url.Values{"method": {"key"}, "key": {apiKey}})
	if status != http.StatusSeeOther {
		c.e.t.Fatalf("sign in with a key: %d\n%s", status, body)
	}
	c.get("/portal/")
}

// sendOrder places an order over the HTTP API, as an ERP would.
func (e *env) sendOrder(account, po, shipTo string, units float64, requested time.Time) {
	e.t.Helper()
	if status := e.postOrder(account, po, shipTo, units, requested); status != http.StatusAccepted {
		e.t.Fatalf("post order %s: %d", po, status)
	}
}

// postOrder posts an order over the HTTP API and returns the status.
func (e *env) postOrder(account, po, shipTo string, units float64, requested time.Time) int {
	e.t.Helper()
	data, _ := json.Marshal(map[string]any{"po_number": po, "ship_to": shipTo, "requested_date": requested.Format(time.DateOnly),
		"lines": []map[string]any{{"line": 1, "gtin": gtin, "quantity": units, "unit": "EA"}}})
	ev := fmt.Sprintf(`{"specversion":"1.0","id":"api-%s-%s","type":"crossdock.order.placed.v1","source":"/accounts/%s","datacontenttype":"application/json","data":%s}`, account, po, account, data)
	req, _ := http.NewRequest("POST", e.base+"/v1/events", bytes.NewReader([]byte(ev)))
	req.Header.Set("Authorization", "Bearer "+key(account))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// orderState polls GET /v1/orders/{po} until the order has a state.
func (e *env) orderState(account, po string) map[string]any {
	e.t.Helper()
	var out map[string]any
	bustest.CheckFor(e.t, 20*time.Second, func() error {
		req, _ := http.NewRequest("GET", e.base+"/v1/orders/"+url.PathEscape(po), nil)
		req.Header.Set("Authorization", "Bearer "+key(account))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET order %s: %d", po, resp.StatusCode)
		}
		out = nil
		return json.NewDecoder(resp.Body).Decode(&out)
	})
	return out
}

func hashOf(id string) string { return accounts.HashKey(key(id)) }

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	bustest.CheckFor(t, 20*time.Second, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf("the condition never held")
	})
}

// apiGet fetches an API path with an account's key.
func (e *env) apiGet(account, path string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key(account))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
