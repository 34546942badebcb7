package portal

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/gateway"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/web"
)

// listData is the tracking page's.
type listData struct {
	Orders     []orders.Summary
	Query      string
	From, To   string // placed between these dates (YYYY-MM-DD), inclusive
	Total      int
	Errors     web.Errors
	LiveSource string
}

// orderList shows the account's orders, searchable by PO prefix and placed
// date: orders.Service.List, what GET /v1/orders answers the account.
func (p *Portal) orderList(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	q := r.URL.Query()
	data := listData{Query: strings.TrimSpace(q.Get("q")), From: q.Get("from"), To: q.Get("to"), LiveSource: Base + "/events"}
	from, errFrom := parseDay(data.From)
	to, errTo := parseDay(data.To)
	if errFrom != nil {
		data.Errors = append(data.Errors, web.FieldError{Code: bus.CodeSchemaViolation, Message: errFrom.Error(), Field: "from"})
	}
	if errTo != nil {
		data.Errors = append(data.Errors, web.FieldError{Code: bus.CodeSchemaViolation, Message: errTo.Error(), Field: "to"})
	}
	query := orders.Query{POPrefix: data.Query, From: from, Limit: orders.MaxLimit}
	if !to.IsZero() {
		query.To = to.AddDate(0, 0, 1)
	}
	page, err := p.cfg.Orders.List(r.Context(), pr.Account, query)
	if err != nil {
		p.unavailable(w, r, "orders", err)
		return
	}
	data.Orders, data.Total = page.Orders, page.Total
	status := http.StatusOK
	if len(data.Errors) > 0 {
		status = http.StatusBadRequest
	}
	p.render(w, r, status, "orders", "Orders", Base+"/orders", data)
}

// parseDay reads an optional YYYY-MM-DD.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return t, nil
}

// orderData is an order's page.
type orderData struct {
	PO         string
	Order      *orders.Tracked
	Placed     bool // just placed from the form: waiting for the decision is expected
	LiveSource string
}

// orderPage shows one order of the session's account and its timeline
// (orders.Service.Timeline): exactly what GET /v1/orders/{po_number} shows
// that account's key, so another account's PO
// is not found, whether or not it exists.
func (p *Portal) orderPage(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	po := r.PathValue("po")
	o, err := p.cfg.Orders.Timeline(r.Context(), pr.Account, po)
	if err != nil {
		p.unavailable(w, r, "orders", err)
		return
	}
	data := orderData{PO: po, Order: o, Placed: r.URL.Query().Get("placed") != "", LiveSource: Base + "/events"}
	if o == nil && !data.Placed {
		p.render(w, r, http.StatusNotFound, "order", "Order "+po, Base+"/orders", data)
		return
	}
	p.render(w, r, http.StatusOK, "order", "Order "+po, Base+"/orders", data)
}

// unavailable answers 503 when a service's state cannot be read.
func (p *Portal) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.Error("portal read", zap.String("what", what), zap.Error(err))
	p.refuse(w, r, http.StatusServiceUnavailable, bus.CodeProcessingFailed+": "+what+" are not readable right now; try again in a moment")
}

// placeData is the ordering page's.
type placeData struct {
	Form   orderForm
	Rules  orders.Rules // the tier's menu and rules, as the dry run applies them
	Errors web.Errors
	Other  web.Errors // errors of no field the form shows
	Today  string
	Check  string // the dry-run endpoint the script posts to as the user types
}

// newFormID is the random id of one filled-in form: the placed event's id
// derives from it, so submitting the same form twice is one order.
func newFormID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Portal) placeData(e *accounts.Entry, f orderForm, errs web.Errors) placeData {
	placed, _, _ := f.placed()
	return placeData{Form: f.padded(), Rules: orders.Check(p.cfg.Now(), e, &placed).Rules, Errors: errs, Other: otherErrors(errs),
		Today: p.cfg.Now().UTC().Format(time.DateOnly), Check: Base + "/place/check"}
}

// placeForm shows an empty ordering form.
func (p *Portal) placeForm(w http.ResponseWriter, r *http.Request) {
	e, ok := p.entry(w, r)
	if !ok {
		return
	}
	f := orderForm{FormID: newFormID()}
	for _, l := range e.Account.Locations {
		if e.Policy.AllowsShipTo(l.Type) {
			f.ShipTo = l.GLN
			break
		}
	}
	p.render(w, r, http.StatusOK, "place", "Place an order", Base+"/place", p.placeData(e, f, nil))
}

// entry is the session's account as the registry has it now.
func (p *Portal) entry(w http.ResponseWriter, r *http.Request) (*accounts.Entry, bool) {
	e, ok := p.cfg.Registry.Account(web.FromContext(r.Context()).Principal.Account)
	if !ok {
		p.refuse(w, r, http.StatusForbidden, bus.CodeUnknownAccount+": the account is no longer known")
	}
	return e, ok
}

// place sends the form as crossdock.order.placed.v1 through the gateway,
// as POST /v1/events does: the same checks, the same storage. The event id
// derives from the form's id, so a resubmitted form is the same event,
// which JetStream stores once. The order page then shows the decision live.
func (p *Portal) place(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	e, ok := p.entry(w, r)
	if !ok {
		return
	}
	f := readOrderForm(r)
	if f.FormID == "" {
		f.FormID = newFormID()
	}
	placed, errs, from := f.placed()
	if len(errs) > 0 {
		p.render(w, r, http.StatusBadRequest, "place", "Place an order", Base+"/place", p.placeData(e, f, errs))
		return
	}
	ev, err := p.newEvent(pr, "order.placed", "portal-order:"+f.FormID, pr.Account, placed)
	if err != nil {
		p.log.Error("portal order event", zap.Error(err))
		p.refuse(w, r, http.StatusInternalServerError, "the order could not be made into an event")
		return
	}
	_, problems, err := p.cfg.Gateway.Submit(r.Context(), sender(pr), bus.ChannelPortal, ev)
	if err != nil && r.Context().Err() == nil {
		status, code, again := notStored(w, err)
		errs = web.Errors{{Code: code, Message: "the order could not be stored; " + again + " (it will not be placed twice)"}}
		p.render(w, r, status, "place", "Place an order", Base+"/place", p.placeData(e, f, errs))
		return
	}
	if err != nil {
		return // the browser went away
	}
	if len(problems) > 0 {
		ps := make([]bus.Problem, len(problems))
		for i, pe := range problems {
			ps[i] = pe.Problem
		}
		p.render(w, r, http.StatusBadRequest, "place", "Place an order", Base+"/place", p.placeData(e, f, fieldErrors(ps, from)))
		return
	}
	p.log.Info("portal order placed", zap.String("account", pr.Account), zap.String("id", ev.ID()))
	http.Redirect(w, r, Base+"/orders/"+url.PathEscape(placed.PONumber)+"?placed="+url.QueryEscape(ev.ID()), http.StatusSeeOther)
}

// newEvent makes an event the portal sends for a principal: its id derived
// from key (a form's id), so that sending the same form twice is one event.
func (p *Portal) newEvent(pr web.Principal, name, key, account string, data any) (*event.Event, error) {
	ev := event.New()
	ev.SetID(bus.DeriveID(string(pr.Kind)+":"+pr.Account+pr.Warehouse+":"+key, name))
	ev.SetType(bus.Type(name))
	ev.SetSource(source(pr))
	ev.SetTime(p.cfg.Now().UTC())
	ev.SetExtension(bus.ExtAccount, account)
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	if err := ev.SetData(event.ApplicationJSON, b); err != nil {
		return nil, err
	}
	return &ev, nil
}

// notStored is the answer to a form whose events the hub did not store
// (Gateway.Submit's or Ingest.File's error): 507 storage_full when a stream
// is at its limit (bus.StreamFull: room comes back as old events age out or
// the operator raises it, so later), else 503 processing_failed (at once).
// It sets Retry-After and returns the status, the code and when to send
// again.
func notStored(w http.ResponseWriter, err error) (status int, code, again string) {
	if bus.StreamFull(err) {
		w.Header().Set("Retry-After", strconv.Itoa(int(gateway.StorageFullRetry/time.Second)))
		return http.StatusInsufficientStorage, bus.CodeStorageFull, "the hub's storage is full: send it again later"
	}
	w.Header().Set("Retry-After", "1")
	return http.StatusServiceUnavailable, bus.CodeProcessingFailed, "send it again"
}
