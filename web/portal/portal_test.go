package portal_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAnotherAccountsOrderIsNotReachableByURL(t *testing.T) {
	e := start(t)
	e.sendOrder("acme", "PO-SECRET-1", acmeDC, 10, time.Now().UTC().AddDate(0, 0, 10))
	e.orderState("acme", "PO-SECRET-1")

	acme, globex := e.client(), e.client()
	acme.signInKey(key("acme"))
	globex.signInKey(key("globex"))
	for _, tc := range []struct {
		name   string
		c      *client
		path   string
		status int
		shows  string
	}{
		{"the account sees its order", acme, "/portal/orders/PO-SECRET-1", http.StatusOK, "accepted"},
		{"another account gets not found", globex, "/portal/orders/PO-SECRET-1", http.StatusNotFound, "unknown_order"},
		{"another account's list does not name it", globex, "/portal/orders", http.StatusOK, "0 orders"},
		{"the account's list names it", acme, "/portal/orders?q=PO-SECRET", http.StatusOK, "PO-SECRET-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.c.get(tc.path)
			if status != tc.status || !strings.Contains(body, tc.shows) {
				t.Errorf("GET %s = %d, want %d showing %q:\n%s", tc.path, status, tc.status, tc.shows, body)
			}
			if tc.c == globex && strings.Contains(body, "PO-SECRET-1</a>") {
				t.Errorf("GET %s shows acme's order to globex", tc.path)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("umbrella"))
	c.get("/portal/place")
	good := c.csrf
	order := func(token string, set bool) url.Values {
		v := url.Values{"po_number": {"PO-CSRF"}, "ship_to": {umbrellaDC}, "requested_date": {time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)},
			"gtin": {gtin}, "quantity": {"600"}, "unit": {"EA"}, "form_id": {"csrf-test"}}
		if set {
			v.Set("csrf", token)
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{"an order without a token is refused", "/portal/place", order("", false), http.StatusForbidden},
		{"an order with a forged token is refused", "/portal/place", order("forged-token", true), http.StatusForbidden},
		{"signing out without a token is refused", "/portal/signout", url.Values{"x": {"1"}}, http.StatusForbidden},
		{"an upload without a token is refused", "/portal/upload", url.Values{"format": {"csv"}}, http.StatusForbidden},
		{"the page's token places the order", "/portal/place", order(good, true), http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.form["csrf"]; !ok {
				tc.form.Set("csrf", "")
			}
			status, body, _ := c.post(tc.path, tc.form)
			if status != tc.status {
				t.Errorf("POST %s = %d, want %d:\n%s", tc.path, status, tc.status, body)
			}
		})
	}
	t.Run("a sign-in without the sign-in page's token is refused", func(t *testing.T) {
		fresh := e.client()
		status, _, _ := fresh.post("/portal/signin", url.Values{"method": {"key"}, "key": {key("acme")}, "csrf": {"made-up"}})
		if status != http.StatusForbidden {
			t.Errorf("POST /portal/signin = %d, want 403", status)
		}
	})
	if got := e.orderState("umbrella", "PO-CSRF"); got["state"] != "accepted" {
		t.Errorf("the order placed with the token is %v, want accepted", got["state"])
	}
}

func TestPlacingIsIdempotentOnResubmit(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("acme"))
	c.get("/portal/place")
	form := url.Values{"po_number": {"PO-TWICE"}, "ship_to": {acmeDC}, "requested_date": {time.Now().UTC().AddDate(0, 0, 5).Format(time.DateOnly)},
		"gtin": {gtin}, "quantity": {"5"}, "unit": {"EA"}, "form_id": {"one-form"}}
	var where []string
	for range 2 {
		status, body, h := c.post("/portal/place", form)
		if status != http.StatusSeeOther {
			t.Fatalf("POST /portal/place = %d:\n%s", status, body)
		}
		where = append(where, h.Get("Location"))
	}
	if where[0] != where[1] {
		t.Errorf("the same form went to %s, then %s: two events", where[0], where[1])
	}
	o := e.orderState("acme", "PO-TWICE")
	if o["state"] != "accepted" {
		t.Errorf("PO-TWICE is %v, want accepted (a resubmitted form must not be a duplicate)", o["state"])
	}
}

func TestFormErrorsCarryTheAPIsCodes(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("umbrella"))
	c.get("/portal/place")
	status, body, _ := c.post("/portal/place", url.Values{"po_number": {"PO-BAD"}, "ship_to": {umbrellaDC}, "requested_date": {"2026-99-99"},
		"gtin": {"123"}, "quantity": {"5"}, "unit": {"EA"}, "form_id": {"bad-form"}})
	if status != http.StatusBadRequest {
		t.Fatalf("POST /portal/place = %d, want 400", status)
	}
	for _, want := range []string{`id="err-requested_date"`, `id="err-row[0]"`, "schema_violation"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form does not show %q", want)
		}
	}
}

func TestWarehousesAndAccountsSeeTheirOwnPages(t *testing.T) {
	e := start(t)
	wh, acme := e.client(), e.client()
	wh.signInKey(key("dc-east"))
	acme.signInKey(key("acme"))
	for _, tc := range []struct {
		name   string
		c      *client
		path   string
		status int
	}{
		{"a warehouse may not order", wh, "/portal/place", http.StatusForbidden},
		{"a warehouse has no order list", wh, "/portal/orders", http.StatusForbidden},
		{"a warehouse sees its requests", wh, "/portal/work", http.StatusOK},
		{"an account has no warehouse work", acme, "/portal/work", http.StatusForbidden},
		{"a strategic account sees inventory and tags", acme, "/portal/inventory", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := tc.c.get(tc.path); status != tc.status {
				t.Errorf("GET %s = %d, want %d:\n%s", tc.path, status, tc.status, body)
			}
		})
	}
}

func TestFailedSignInsAreSlowed(t *testing.T) {
	e := start(t)
	c := e.client()
	c.get("/portal/signin")
	var statuses []int
	for range 5 {
		status, _, _ := c.post("/portal/signin", url.Values{"method": {"key"}, "key": {"wrong"}})
		statuses = append(statuses, status)
	}
	want := []int{401, 401, 401, 401, 429}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("failed sign-ins answered %v, want %v", statuses, want)
		}
	}
	status, _, h := c.post("/portal/signin", url.Values{"method": {"key"}, "key": {key("acme")}})
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("the right key from a throttled address = %d (Retry-After %q), want 429 with Retry-After", status, h.Get("Retry-After"))
	}
}

func TestSessionsEndWhenTheKeyIsRemoved(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("globex"))
	if status, _ := c.get("/portal/orders"); status != http.StatusOK {
		t.Fatalf("signed in, GET /portal/orders = %d", status)
	}
	e.extra["globex"] = ""
	data := strings.Replace(accountsFile(e.extra), `api_keys: ["`+hashOf("globex")+`"]`, "api_keys: []", 1)
	writeFile(t, e.file, data)
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { status, _ := c.get("/portal/orders"); return status == http.StatusSeeOther })
}

func TestLiveUpdatesCarryOnlyTheAccountsOwnEvents(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("acme"))
	req, _ := http.NewRequest("GET", e.base+"/portal/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("GET /portal/events: Content-Type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Scan() // retry:
	e.sendOrder("globex", "PO-OTHER", globexDC, 1, time.Now().UTC().AddDate(0, 0, 3))
	e.orderState("globex", "PO-OTHER")
	e.sendOrder("acme", "PO-LIVE", acmeDC, 1, time.Now().UTC().AddDate(0, 0, 3))
	for lines.Scan() {
		line := lines.Text()
		if strings.Contains(line, "xd.out.globex.") {
			t.Fatalf("acme's stream carried globex's event: %s", line)
		}
		if strings.HasPrefix(line, "data:") && strings.Contains(line, "xd.out.acme.order.accepted") {
			return
		}
	}
	t.Fatalf("the stream ended before acme's order.accepted: %v", lines.Err())
}

func TestUploadingAFileStoresTheGoodOrdersAndListsTheBadOnes(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInKey(key("acme"))
	c.get("/portal/upload")
	date := time.Now().UTC().AddDate(0, 0, 12).Format(time.DateOnly)
	csv := "po_number,ship_to,requested_date,gtin,quantity,unit\n" +
		"PO-CSV-GOOD," + acmeDC + "," + date + "," + gtin + ",12,EA\n" +
		"PO-CSV-BAD," + acmeDC + "," + date + ",12345,12,EA\n"
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", c.csrf)
	_ = mw.WriteField("format", "csv")
	fw, _ := mw.CreateFormFile("file", "orders.csv")
	_, _ = fw.Write([]byte(csv))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", e.base+"/portal/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /portal/upload = %d, want 400 (one order refused)", resp.StatusCode)
	}
	for _, want := range []string{"PO PO-CSV-GOOD", "PO-CSV-BAD is not sent", "line 3"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the results do not show %q:\n%s", want, page)
		}
	}
	if o := e.orderState("acme", "PO-CSV-GOOD"); o["state"] != "accepted" {
		t.Errorf("the good order of the file is %v, want accepted", o["state"])
	}
}

func TestAViewerCannotOrder(t *testing.T) {
	e := start(t)
	viewer := e.client()
	viewer.signInUser("viewer@acme.example")
	_, page := viewer.get("/portal/orders")
	if strings.Contains(page, `href="/portal/place"`) {
		t.Errorf("a viewer's navigation offers ordering")
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
	}{
		{"the ordering form is refused", "GET", "/portal/place"},
		{"placing is refused", "POST", "/portal/place"},
		{"the dry run is refused", "POST", "/portal/place/check"},
		{"uploading is refused", "POST", "/portal/upload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var body string
			if tc.method == "GET" {
				status, body = viewer.get(tc.path)
			} else {
				status, body, _ = viewer.post(tc.path, url.Values{"po_number": {"PO-VIEW"}, "ship_to": {acmeDC}, "gtin": {gtin}, "quantity": {"1"},
					"requested_date": {time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)}})
			}
			if status != http.StatusForbidden || !strings.Contains(body, "viewer") {
				t.Errorf("%s %s = %d, want 403 saying the role is viewer", tc.method, tc.path, status)
			}
		})
	}
	if status, _ := e.apiGet("acme", "/v1/orders/PO-VIEW"); status != http.StatusNotFound {
		t.Errorf("the viewer's order exists: GET = %d", status)
	}
	if status, _ := viewer.get("/portal/orders"); status != http.StatusOK {
		t.Errorf("a viewer's order list = %d, want 200", status)
	}
}

func TestSignInAsAUser(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		name     string
		email    string
		password string
		status   int
	}{
		{"a buyer signs in", "buyer@acme.example", password, http.StatusSeeOther},
		{"the email is case-insensitive", "Buyer@ACME.example", password, http.StatusSeeOther},
		{"a wrong password is refused", "buyer@acme.example", "wrong", http.StatusUnauthorized},
		{"an unknown email is refused alike", "nobody@acme.example", password, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client()
			c.get("/portal/signin")
			status, body, _ := c.post("/portal/signin", url.Values{"method": {"password"}, "email": {tc.email}, "password": {tc.password}})
			if status != tc.status {
				t.Errorf("sign in as %s = %d, want %d:\n%s", tc.email, status, tc.status, body)
			}
			if status == http.StatusUnauthorized && !strings.Contains(body, "the email or password is wrong") {
				t.Errorf("the refusal does not say why")
			}
		})
	}
}

func TestAUserRemovedFromTheFileIsSignedOut(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInUser("buyer@globex.example")
	if status, _ := c.get("/portal/orders"); status != http.StatusOK {
		t.Fatalf("signed in, GET /portal/orders = %d", status)
	}
	e.extra["globex"] = ""
	e.writeAccounts()
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { status, _ := c.get("/portal/orders"); return status == http.StatusSeeOther })
}

func TestTheFormsDryRunAnswersWithTheAPIsReasons(t *testing.T) {
	e := start(t)
	c := e.client()
	c.signInUser("buyer@umbrella.example")
	c.get("/portal/place")
	status, body, _ := c.post("/portal/place/check", url.Values{"po_number": {"PO-DRY"}, "ship_to": {umbrellaShp},
		"requested_date": {time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)},
		"gtin":           {gtin, ""}, "quantity": {"40", ""}, "unit": {"EA", "EA"}, "paste": {gtin + "\t10\tEA\nnot-a-line"}})
	if status != http.StatusOK {
		t.Fatalf("POST /portal/place/check = %d:\n%s", status, body)
	}
	var ans struct {
		State   string `json:"state"`
		Reasons []struct{ Code, Message, Field string }
	}
	if err := json.Unmarshal([]byte(body), &ans); err != nil {
		t.Fatalf("the check's answer is not JSON: %v\n%s", err, body)
	}
	got := map[string]string{}
	for _, r := range ans.Reasons {
		got[r.Field] = r.Code
	}
	want := map[string]string{"ship_to": "ship_to_not_dc", "lines": "below_minimum_order", "paste": "schema_violation"}
	for f, code := range want {
		if got[f] != code {
			t.Errorf("reason on %s = %q, want %q (all: %+v)", f, got[f], code, ans.Reasons)
		}
	}
	if ans.State != "rejected" {
		t.Errorf("state = %q, want rejected", ans.State)
	}
	if status, _ := e.apiGet("umbrella", "/v1/orders/PO-DRY"); status != http.StatusNotFound {
		t.Errorf("a dry run stored the order: GET = %d", status)
	}
}

func TestARefusedShipmentShowsWhatTheWarehouseTypedAgain(t *testing.T) {
	e := start(t)
	e.sendOrder("acme", "PO-SHIP-BAD", acmeDC, 8, time.Now().UTC().AddDate(0, 0, 4))
	orderID := e.orderState("acme", "PO-SHIP-BAD")["order_id"].(string)
	c := e.client()
	c.signInUser("dock@dc-east.example")
	c.get("/portal/work")
	status, body, _ := c.post("/portal/work/ship", url.Values{"order_id": {orderID}, "shipment_id": {"SH-TYPED"}, "carrier": {"DHL"}, "sscc": {"123"}})
	if status != http.StatusBadRequest {
		t.Fatalf("POST /portal/work/ship with a short SSCC = %d, want 400:\n%s", status, body)
	}
	for _, want := range []string{`value="SH-TYPED"`, `value="DHL"`, `value="123"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lost what was typed: no %s in\n%s", want, body)
		}
	}
}
