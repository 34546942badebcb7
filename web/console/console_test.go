package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crossdock/crossdock/bus/bustest"
	"github.com/crossdock/crossdock/web/webtest"
)

// consoleURLs are every page and action of the console.
var consoleURLs = []struct{ method, path string }{
	{"GET", "/console"}, {"GET", "/console/"}, {"GET", "/console/flow.json"}, {"GET", "/console/accounts"},
	{"GET", "/console/accounts/acme"}, {"GET", "/console/dlq"}, {"GET", "/console/dlq/1"}, {"GET", "/console/replays"},
	{"GET", "/console/trace?kind=po&q=X"}, {"GET", "/console/catalog"}, {"GET", "/console/catalog/order.placed"},
	{"GET", "/console/catalog.json"}, {"GET", "/console/nope"},
	{"POST", "/console/accounts/acme/tier"}, {"POST", "/console/dlq/1/redrive"}, {"POST", "/console/dlq/redrive"},
	{"POST", "/console/replays"}, {"POST", "/console/signout"},
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts the sign-in form with token, as a browser would (with the
// form's CSRF token and cookie), and returns the client and the answer.
func signIn(t *testing.T, base, token string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		t.Fatalf("the sign-in form has no CSRF token:\n%s", body)
	}
	resp, err = c.PostForm(base+"/console/signin", url.Values{"csrf": {string(m[1])}, "token": {token}, "next": {"/console/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp
}

func TestACustomerKeyIsRefusedOnEveryConsoleURL(t *testing.T) {
	e := start(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, u := range consoleURLs {
		t.Run(u.method+" "+u.path+" with a customer's key", func(t *testing.T) {
			req, _ := http.NewRequest(u.method, e.base+u.path, strings.NewReader("tier=stable&confirm=yes&account=acme"))
			req.Header.Set("Authorization", "Bearer "+key("acme"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch {
			case u.method == "GET" && resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/console/"):
			case u.method == "POST" && resp.StatusCode == http.StatusUnauthorized:
			default:
				t.Errorf("%s %s = %d (Location %q), want a redirect to the sign-in page or 401", u.method, u.path, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	t.Run("signing in with a customer's key is refused", func(t *testing.T) {
		c, resp := signIn(t, e.base, key("acme"))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with acme's key = %d, want 401", resp.StatusCode)
		}
		got, _ := c.Get(e.base + "/console/accounts")
		if got.StatusCode != http.StatusSeeOther {
			t.Errorf("after a refused sign-in, GET /console/accounts = %d, want 303 to sign in", got.StatusCode)
		}
	})
	t.Run("the admin token signs in, and every action then needs the CSRF token", func(t *testing.T) {
		c, resp := signIn(t, e.base, adminToken)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in with the admin token = %d, want 303", resp.StatusCode)
		}
		var cookie *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == "xd_console" {
				cookie = ck
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.MaxAge <= 0 {
			t.Errorf("session cookie %+v, want HttpOnly, SameSite=Strict and an expiry", cookie)
		}
		for _, path := range []string{"/console/", "/console/accounts/acme", "/console/catalog/order.placed", "/console/trace"} {
			got, err := c.Get(e.base + path)
			if err != nil || got.StatusCode != http.StatusOK {
				t.Errorf("signed in, GET %s = %v %v, want 200", path, got.StatusCode, err)
			}
		}
		got, _ := c.PostForm(e.base+"/console/accounts/acme/tier", url.Values{"tier": {"stable"}, "confirm": {"yes"}})
		if got.StatusCode != http.StatusForbidden {
			t.Errorf("a tier change without the CSRF token = %d, want 403", got.StatusCode)
		}
	})
}

// waitJS polls a JavaScript condition in the tab until it is true.
func waitJS(t *testing.T, tab *webtest.Tab, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(tab.Context(), chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tab.Screenshot("failed-" + t.Name())
			t.Fatalf("%s: never true (%v)", what, err)
		}
		select {
		case <-tab.Context().Done():
			t.Fatalf("%s: %v", what, tab.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// browserSignIn signs the tab in through the form.
func browserSignIn(t *testing.T, tab *webtest.Tab, base string) {
	t.Helper()
	tab.Do(chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	tab.Do(chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("form.signout")))
	tab.WaitText("h1", "Flow")
}

func TestTheTierChartsMoveWithABurstOfOrders(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	browserSignIn(t, tab, e.base)
	for i := range 40 {
		e.order("acme", fmt.Sprintf("burst-%d", i), fmt.Sprintf("PO-BURST-%d", i), dcEast, 12)
		if i%4 == 0 {
			e.order("globex", fmt.Sprintf("gburst-%d", i), fmt.Sprintf("PO-G-%d", i), globexDC, 5)
		}
	}
	// The page refreshes itself: the strategic rate and the SLO table move
	// without a reload.
	waitJS(t, tab, "the strategic rate rises", `parseFloat(document.getElementById("rate-strategic").textContent) > 0`)
	waitJS(t, tab, "the strategic SLO row counts the orders",
		`parseInt(document.querySelector("#slo-strategic td").textContent, 10) >= 40`)
	waitJS(t, tab, "the tier chart draws a non-flat strategic line",
		`(function(){var l=document.querySelector("svg.chart polyline.tier-strategic");if(!l)return false;
		  var ys=l.getAttribute("points").split(" ").map(function(p){return parseFloat(p.split(",")[1]);});
		  return Math.min.apply(null, ys) < Math.max.apply(null, ys);})()`)
	tab.Screenshot("console-flow")

	// Promote globex from the accounts page, with confirmation.
	tab.Do(chromedp.Navigate(e.base+"/console/accounts/globex"), chromedp.WaitVisible(chromedp.CSS("#tier")))
	tab.Do(chromedp.SetValue(chromedp.CSS("#tier"), "strategic"), chromedp.Click(chromedp.CSS("#change-tier")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-h")))
	if got := tab.Text("#confirm-h"); !strings.Contains(got, "Change globex from integrated to strategic?") {
		t.Errorf("confirmation %q", got)
	}
	tab.Do(chromedp.Click(chromedp.CSS("#confirm-tier")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	tab.WaitText(".flash", "tier changed from integrated to strategic")
	tab.WaitText("ol.timeline", "integrated → strategic")
}

func TestARedrivenDeadLetterIsProcessed(t *testing.T) {
	e := start(t)
	e.hook.refuse.Store(true) // acme's endpoint is down
	e.order("acme", "dl-1", "PO-DL-1", dcEast, 10)
	var seq uint64
	var eventID string
	bustest.CheckFor(t, 20*time.Second, func() error {
		dls := e.deadLetters("delivery_failed")
		for _, d := range dls {
			if d.EventType == "crossdock.order.accepted.v1" {
				seq, eventID = d.Seq, d.EventID
				return nil
			}
		}
		return fmt.Errorf("dead letters %+v", dls)
	})
	tab := webtest.NewTab(t)
	browserSignIn(t, tab, e.base)
	tab.Do(chromedp.Navigate(fmt.Sprintf("%s/console/dlq/%d", e.base, seq)), chromedp.WaitVisible(chromedp.CSS("#redrive")))
	tab.WaitText("main", "HTTP 503")
	tab.Screenshot("console-dead-letter")
	e.hook.refuse.Store(false) // the customer fixed it
	tab.Do(chromedp.Click(chromedp.CSS("#redrive")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	tab.WaitText(".flash", "delivered to account acme")
	if got := e.hook.got(); !slices.Contains(got, eventID) {
		t.Errorf("the endpoint got %v, want the redriven %s", got, eventID)
	}
	for _, d := range e.deadLetters("delivery_failed") {
		if d.Seq == seq {
			t.Errorf("dead letter %d is still in the DLQ", seq)
		}
	}
}

func TestAnX12OrderIsTracedToIts856AndEPCIS(t *testing.T) {
	e := start(t)
	nc, err := nats.Connect(e.hub.NATSURL(), nats.UserInfo("acme", key("acme")), nats.CustomInboxPrefix("_INBOX_acme"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), "xd.raw.acme.x12", interchange(5150, po850("0001", "PO-X12-7", dcEast))); err != nil {
		t.Fatal(err)
	}
	var orderID string
	bustest.CheckFor(t, 20*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/orders/PO-X12-7", nil)
		req.Header.Set("Authorization", "Bearer "+key("acme"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var o struct {
			OrderID string `json:"order_id"`
			State   string `json:"state"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&o)
		if o.State != "accepted" {
			return fmt.Errorf("order %d %+v", resp.StatusCode, o)
		}
		orderID = o.OrderID
		return nil
	})
	hex, digits := sscc(t)
	ship := fmt.Sprintf(`{"specversion":"1.0","id":"ship-x12-7","source":"/warehouses/dc-east","account":"acme",`+
		`"type":"crossdock.shipment.dispatched.v1","datacontenttype":"application/json","data":{"shipment_id":"S-X12-7",`+
		`"order_id":%q,"sscc":%q,"carrier":"ACME Freight","lines":[{"gtin":"00614141123452","quantity":24}]}}`, orderID, digits)
	if status := e.post("/v1/events", key("dc-east"), "application/cloudevents+json", []byte(ship)); status != http.StatusAccepted {
		t.Fatalf("shipment: %d", status)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	e.reads("dock-7", acmeDock, at, hex, sgtin(t, 7))
	e.reads("shelf-7", acmeShelf, at.Add(time.Minute), sgtin(t, 7))

	// The 856 and the EPCIS events are made asynchronously: wait until the
	// API's trace has them, then search in the console.
	bustest.CheckFor(t, 30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/admin/trace?po=PO-X12-7", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, kind := range []string{"raw_file", "edi_855", "edi_856", "shipment_out"} {
			if !strings.Contains(string(b), `"kind":"`+kind+`"`) {
				return fmt.Errorf("no %s hop yet", kind)
			}
		}
		if strings.Count(string(b), `"kind":"epcis"`) < 2 {
			return fmt.Errorf("fewer than two EPCIS hops")
		}
		return nil
	})
	tab := webtest.NewTab(t)
	browserSignIn(t, tab, e.base)
	tab.Do(chromedp.Navigate(e.base+"/console/trace"), chromedp.WaitVisible(chromedp.CSS("#q")))
	tab.Do(chromedp.SetValue(chromedp.CSS("#kind"), "po"), chromedp.SendKeys(chromedp.CSS("#q"), "PO-X12-7"), chromedp.Click(chromedp.CSS("#trace")))
	waitJS(t, tab, "the trace shows the file, the 855, the 856 and two EPCIS events",
		`!!(document.querySelector(".hop-raw_file") && document.querySelector(".hop-edi_855") && document.querySelector(".hop-edi_856") && document.querySelectorAll(".hop-epcis").length >= 2)`)
	tab.WaitText(".hop-raw_file", "000005150")
	tab.WaitText(".hop-shipment", digits)
	tab.Screenshot("console-trace")

	// A file posted over HTTP is kept too: found by its transaction set's
	// control number, from the file (decoded at the door, channel api) on.
	if status := e.post("/v1/ingest/x12", key("acme"), "application/edi-x12", interchange(5151, po850("0517", "PO-X12-HTTP", dcEast))); status != http.StatusAccepted {
		t.Fatalf("POST /v1/ingest/x12: %d", status)
	}
	bustest.CheckFor(t, 30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/admin/trace?st=0517", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `"kind":"decision"`) {
			return fmt.Errorf("no decision yet: %d %s", resp.StatusCode, b)
		}
		return nil
	})
	tab.Do(chromedp.Navigate(e.base+"/console/trace"), chromedp.WaitVisible(chromedp.CSS("#q")))
	tab.Do(chromedp.SetValue(chromedp.CSS("#kind"), "st"), chromedp.SendKeys(chromedp.CSS("#q"), "0517"), chromedp.Click(chromedp.CSS("#trace")))
	tab.WaitText(".hop-raw_file", "0517")
	tab.WaitText(".hop-raw_file", "api")
	tab.WaitText(".hop-decision", "accepted")
	tab.Screenshot("console-trace-http")
}
