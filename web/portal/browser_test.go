package portal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crossdock/crossdock/web/webtest"
)

// signInKeyTab signs a tab in with an API key.
func (e *env) signInKeyTab(tab *webtest.Tab, apiKey string) {
	tab.Do(
		chromedp.Navigate(e.base+"/portal/signin"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), apiKey),
		chromedp.Click(chromedp.CSS("#signin-key")),
		chromedp.WaitVisible(chromedp.CSS("form.signout")),
	)
}

// fillOrder fills the ordering form's PO, date and first row. The dry run's
// verdict then appears above the submit button and moves it: a test waits
// for the verdict it expects before clicking, or the click may land where
// the button no longer is.
func fillOrder(tab *webtest.Tab, po, shipTo string, requested time.Time, quantity string) {
	tab.Do(
		chromedp.WaitVisible(chromedp.CSS("#po_number")),
		chromedp.SendKeys(chromedp.CSS("#po_number"), po),
		chromedp.SetValue(chromedp.CSS("#ship_to"), shipTo),
		chromedp.SetValue(chromedp.CSS("#requested_date"), requested.Format(time.DateOnly)),
		chromedp.SendKeys(chromedp.CSS("#gtin-0"), gtin),
		chromedp.SendKeys(chromedp.CSS("#quantity-0"), quantity),
	)
}

func TestABuyerPlacesAGoodOrderAndSeesItAccepted(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	tab.Do(chromedp.Navigate(e.base + "/portal/place"))
	tab.WaitText("main", "Sign in") // a page behind sign-in sends there first
	tab.Screenshot("portal-signin")
	e.signInTab(tab, "buyer@acme.example")
	tab.WaitText(".who", "buyer@acme.example · buyer")
	tab.Do(chromedp.Navigate(e.base + "/portal/place"))
	fillOrder(tab, "PO-WEB-1", acmeDC, time.Now().UTC().AddDate(0, 0, 10), "24")
	tab.WaitText("#check-result", "would be accepted")
	tab.Screenshot("portal-place")
	tab.Do(chromedp.Click(chromedp.CSS("#place")))
	tab.WaitText("#outcome", "accepted")
	tab.WaitText("#outcome", "dc-east")
	tab.Screenshot("portal-order-accepted")
}

func TestAHeldOrderShowsItsReleaseTime(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	e.signInKeyTab(tab, key("later"))
	tab.Do(chromedp.Navigate(e.base + "/portal/place"))
	fillOrder(tab, "PO-HELD-1", laterDC, time.Now().UTC().AddDate(0, 0, 30), "600")
	tab.WaitText("#check-result", "would be held")
	tab.Do(chromedp.Click(chromedp.CSS("#place")))
	tab.WaitText("#outcome", "Held until")
	o := e.orderState("later", "PO-HELD-1")
	release, _ := time.Parse(time.RFC3339, o["release_at"].(string))
	tab.WaitText("#outcome", release.UTC().Format("2006-01-02 15:04 UTC"))
	tab.Screenshot("portal-order-held")
}

func TestAnUploadWithOneBadOrderShowsBothResults(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	e.signInKeyTab(tab, key("acme"))
	date := time.Now().UTC().AddDate(0, 0, 12).Format(time.DateOnly)
	csv := "po_number,ship_to,requested_date,gtin,quantity,unit\n" +
		"PO-CSV-GOOD," + acmeDC + "," + date + "," + gtin + ",12,EA\n" +
		"PO-CSV-BAD," + acmeDC + "," + date + ",12345,12,EA\n"
	path := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	tab.Do(
		chromedp.Navigate(e.base+"/portal/upload"),
		chromedp.WaitVisible(chromedp.CSS("#file")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{path}),
		chromedp.Click(chromedp.CSS("#upload")),
	)
	tab.WaitText("#results", "PO PO-CSV-GOOD")
	tab.WaitText("#results", "PO-CSV-BAD is not sent")
	tab.WaitText("#results", "line 3")
	tab.Screenshot("portal-upload")
	if o := e.orderState("acme", "PO-CSV-GOOD"); o["state"] != "accepted" {
		t.Errorf("the good order of the file is %v, want accepted", o["state"])
	}
}

func TestAWarehouseReportsTheShipmentAndTheCustomerSeesItShipped(t *testing.T) {
	e := start(t)
	e.sendOrder("acme", "PO-SHIP-1", acmeDC, 8, time.Now().UTC().AddDate(0, 0, 4))
	orderID := e.orderState("acme", "PO-SHIP-1")["order_id"].(string)

	customer := webtest.NewTab(t)
	e.signInTab(customer, "viewer@acme.example") // a viewer tracks
	customer.Do(chromedp.Navigate(e.base + "/portal/orders/PO-SHIP-1"))
	customer.WaitText("#outcome", "accepted")
	customer.WaitText("[data-live-status]", "Live")

	warehouse := webtest.NewTab(t)
	e.signInTab(warehouse, "dock@dc-east.example")
	warehouse.Do(chromedp.Navigate(e.base + "/portal/work"))
	// data-updated: the list has been read again once the stream was open,
	// so what the test types next is typed into the page as it stays.
	warehouse.WaitText("#work-live[data-updated]", "PO-SHIP-1")
	warehouse.Screenshot("portal-warehouse")
	shipment := `[id="shipment-` + orderID + `"]`
	warehouse.Do(chromedp.SendKeys(chromedp.CSS(shipment), "SH-77"))

	// A new request arrives while the clerk is typing: the list shows it,
	// and what was typed, and where, is still there.
	e.sendOrder("acme", "PO-SHIP-2", acmeDC, 8, time.Now().UTC().AddDate(0, 0, 5))
	warehouse.WaitText("#work-live", "PO-SHIP-2")
	typed, err := chromedp.Run(warehouse.Context(), chromedp.Evaluate[string](`document.querySelector('`+shipment+`').value`))
	if err != nil || typed != "SH-77" {
		warehouse.Screenshot("failed-" + t.Name())
		t.Fatalf("after a live update the shipment id field holds %q (%v), want SH-77", typed, err)
	}
	focused, err := chromedp.Run(warehouse.Context(), chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil || focused != "shipment-"+orderID {
		t.Errorf("after a live update the focus is on %q (%v), want shipment-%s", focused, err, orderID)
	}
	warehouse.Screenshot("portal-warehouse-typing-through-an-update")
	warehouse.Do(
		chromedp.SendKeys(chromedp.CSS(`[id="carrier-`+orderID+`"]`), "DHL"),
		chromedp.Click(chromedp.CSS(`[id="ship-`+orderID+`"]`)),
	)
	warehouse.WaitText("main", "Shipment reported")

	// The customer's page updates by itself (server-sent events).
	customer.WaitText("#outcome", "shipped")
	customer.WaitText("#outcome", "SH-77")
	customer.Screenshot("portal-order-shipped")
}

func TestAStableOrderBelowItsMinimumIsFlaggedBeforeSubmitting(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	e.signInTab(tab, "buyer@umbrella.example")
	tab.Do(chromedp.Navigate(e.base + "/portal/place"))
	// 20 days ahead the stable tier's minimum is 100 units.
	fillOrder(tab, "PO-SMALL-1", umbrellaDC, time.Now().UTC().AddDate(0, 0, 20), "40")
	tab.WaitText("#err-lines", "below_minimum_order")
	tab.WaitText("#err-lines", "needs at least 100")
	tab.WaitText("#check-result", "would be rejected")
	// The store is shown, and refused with the reason, as soon as it is chosen.
	tab.Do(chromedp.SetValue(chromedp.CSS("#ship_to"), umbrellaShp), chromedp.Evaluate[chromedp.Void](`document.getElementById("ship_to").dispatchEvent(new Event("change", {bubbles: true}))`))
	tab.WaitText("#err-ship_to", "ship_to_not_dc")
	tab.Screenshot("portal-place-flagged")
	// Nothing was placed: the check is a dry run.
	if status, _ := e.apiGet("umbrella", "/v1/orders/PO-SMALL-1"); status != 404 {
		t.Errorf("GET the checked order = %d, want 404", status)
	}
	// Fixing the form clears the flags.
	tab.Do(
		chromedp.SetValue(chromedp.CSS("#ship_to"), umbrellaDC),
		chromedp.SendKeys(chromedp.CSS("#quantity-0"), "0"), // 400 units
	)
	tab.WaitText("#check-result", "would be accepted")
	if got := tab.Text("#err-lines"); got != "" {
		t.Errorf("after the fix the lines still show %q", got)
	}
}

func TestTheScorecardOfASeededFixtureShowsTheExpectedFigures(t *testing.T) {
	e := startScored(t)
	tab := webtest.NewTab(t)
	tab.Do(chromedp.EmulateViewport(1100, 900))
	e.signInTab(tab, "viewer@acme.example") // a viewer sees the scorecard too
	tab.Do(chromedp.Click(chromedp.CSS(`nav a[href="/portal/scorecard"]`)))
	tab.WaitText("#label", "Week 2026-W13") // the clock's week
	// To the week before, by keyboard.
	tab.Do(chromedp.Focus(chromedp.CSS("#prev")), chromedp.KeyEvent(kb.Enter))
	tab.WaitText("#label", "Week 2026-W12")
	for id, want := range weekFigures {
		if got := tab.Text("#" + id); got != want {
			t.Errorf("#%s shows %q, want %q", id, got, want)
		}
	}
	if got, want := tab.Text("#reasons tbody tr:first-child"), "below_minimum_order\t3"; got != want {
		t.Errorf("the top rejection reason is %q, want %q", got, want)
	}
	csv, err := chromedp.Run(tab.Context(), chromedp.AttributeValue(chromedp.CSS("#csv"), "href"))
	if err != nil || csv.Value != "/portal/scorecard.csv?from=2026-03-16&period=week" {
		t.Errorf("the CSV link is %q (%v)", csv.Value, err)
	}
	tab.Screenshot("portal-scorecard")

	// At phone width nothing is wider than the screen.
	tab.Do(chromedp.EmulateViewport(400, 800))
	overflow, err := chromedp.Run(tab.Context(), chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || overflow {
		t.Errorf("at 400 px the page is wider than the screen (%v)", err)
	}
	tab.Screenshot("portal-scorecard-phone")

	// The period chooser: the month of the same week.
	tab.Do(chromedp.SetValue(chromedp.CSS("#period"), "month"), chromedp.Click(chromedp.CSS("#show")))
	tab.WaitText("#label", "Month 2026-03")
	tab.WaitText("#placed", "10")
}

func TestAViewerCannotOrderInTheBrowser(t *testing.T) {
	e := start(t)
	tab := webtest.NewTab(t)
	e.signInTab(tab, "viewer@acme.example")
	tab.WaitText(".who", "viewer@acme.example · viewer")
	offered, err := chromedp.Run(tab.Context(), chromedp.Evaluate[bool](`document.querySelector('nav a[href="/portal/place"], nav a[href="/portal/upload"]') !== null`))
	if err != nil || offered {
		t.Errorf("a viewer's navigation offers ordering or uploads (%v)", err)
	}
	tab.Do(chromedp.Navigate(e.base + "/portal/place"))
	tab.WaitText("main", "Your role is viewer")
	if n, err := chromedp.Run(tab.Context(), chromedp.Evaluate[int](`document.querySelectorAll("#place, #po_number").length`)); err != nil || n != 0 {
		t.Errorf("the refused page still shows the ordering form (%d elements, %v)", n, err)
	}
	tab.Screenshot("portal-viewer-refused")
}

func TestAnotherAccountsOrderIsNotReachableInTheBrowser(t *testing.T) {
	e := start(t)
	e.sendOrder("acme", "PO-SECRET-2", acmeDC, 10, time.Now().UTC().AddDate(0, 0, 10))
	e.orderState("acme", "PO-SECRET-2")
	tab := webtest.NewTab(t)
	e.signInTab(tab, "buyer@globex.example")
	tab.Do(chromedp.Navigate(e.base + "/portal/orders/PO-SECRET-2"))
	tab.WaitText("main", "unknown_order")
	if got := tab.Text("main"); strings.Contains(got, acmeDC) || strings.Contains(got, "accepted") {
		t.Errorf("globex's page for acme's order shows it:\n%s", got)
	}
	tab.Do(chromedp.Navigate(e.base + "/portal/orders?q=PO-SECRET"))
	tab.WaitText("main", "No orders match the search")
	tab.Screenshot("portal-other-account")
}
