package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"testing/fstest"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/web"
	"github.com/crossdock/crossdock/web/webtest"
)

func TestMain(m *testing.M) { os.Exit(webtest.Main(m)) }

// demo is a tiny application on the foundation: one form checked as the
// user types.
func demo(t *testing.T) *httptest.Server {
	t.Helper()
	pages, err := web.NewPages(web.App{Name: "Demo", Base: "/demo"}, fstest.MapFS{
		"t/form.html": {Data: []byte(`{{define "content"}}<h1>Form</h1>
<form method="post" data-check="/demo/check">
<label for="qty">Quantity</label>
<input id="qty" name="qty" type="number" aria-describedby="err-qty">
{{template "field-errors" (fieldErrors "qty" .Data)}}
<output data-check-result hidden></output>
<button>Send</button></form>{{end}}`)},
	}, "t/*.html", nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	sessions := web.NewSessions(web.SessionConfig{Cookie: "demo", Path: "/demo"})
	mux := http.NewServeMux()
	mux.Handle("/demo/assets/", web.Assets("/demo/assets/"))
	mux.HandleFunc("/demo/signin", func(w http.ResponseWriter, r *http.Request) {
		sessions.Start(w, r, web.Principal{Kind: web.KindUser, Email: "a@demo.example", Role: web.RoleBuyer})
		http.Redirect(w, r, "/demo/form", http.StatusSeeOther)
	})
	mux.Handle("GET /demo/form", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages.Render(w, http.StatusOK, "form", web.Page{Title: "Form", Session: web.FromContext(r.Context()), Data: web.Errors(nil)})
	}), "/demo/signin"))
	mux.Handle("POST /demo/check", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := map[string]any{"state": "accepted", "summary": "all good"}
		if r.PostFormValue("qty") == "1" {
			res = map[string]any{"state": "rejected", "summary": "not fine",
				"reasons": []web.FieldError{{Code: "below_minimum_order", Message: "too few", Field: "qty"}}}
		}
		_ = json.NewEncoder(w).Encode(res)
	}), "/demo/signin"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAFormIsCheckedAsTheUserTypes(t *testing.T) {
	srv := demo(t)
	tab := webtest.NewTab(t)
	tab.Do(
		chromedp.Navigate(srv.URL+"/demo/signin"),
		chromedp.WaitVisible(chromedp.CSS("#qty")),
		chromedp.SendKeys(chromedp.CSS("#qty"), "1"),
	)
	tab.WaitText("#err-qty", "below_minimum_order too few")
	if inv, _ := chromedp.Run(tab.Context(), chromedp.Evaluate[string](`document.getElementById("qty").getAttribute("aria-invalid")`)); inv != "true" {
		t.Errorf("the field is not marked invalid: aria-invalid=%q", inv)
	}
	tab.Do(chromedp.SendKeys(chromedp.CSS("#qty"), "0"))
	tab.WaitText("[data-check-result]", "all good")
	if got := tab.Text("#err-qty"); got != "" {
		t.Errorf("the fixed field still shows %q", got)
	}
}
