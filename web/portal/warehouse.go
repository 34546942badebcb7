package portal

import (
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/web"
)

// workData is a warehouse's page: its open fulfilment requests, each with a
// form to report the shipment.
type workData struct {
	Orders     []orders.Order
	FormID     string
	Errors     web.Errors
	For        string  // the order_id the errors belong to
	Sent       shipped // what the form of For held, shown again with its errors
	Shipped    string  // the order_id just reported
	LiveSource string
}

// work shows the warehouse's open requests: orders accepted for it and not
// shipped yet.
func (p *Portal) work(w http.ResponseWriter, r *http.Request) {
	p.renderWork(w, r, http.StatusOK, workData{Shipped: r.URL.Query().Get("shipped")})
}

func (p *Portal) renderWork(w http.ResponseWriter, r *http.Request, status int, d workData) {
	pr := web.FromContext(r.Context()).Principal
	open, err := p.cfg.Orders.Open(r.Context(), pr.Warehouse)
	if err != nil {
		p.unavailable(w, r, "fulfilment requests", err)
		return
	}
	d.Orders, d.FormID, d.LiveSource = open, newFormID(), Base+"/events"
	p.render(w, r, status, "work", "Open requests", Base+"/work", d)
}

// shipped is the data of crossdock.shipment.dispatched.v1 the page sends.
type shipped struct {
	ShipmentID string        `json:"shipment_id"`
	OrderID    string        `json:"order_id"`
	Lines      []orders.Line `json:"lines"`
	Carrier    string        `json:"carrier,omitempty"`
	SSCC       string        `json:"sscc,omitempty"`
}

// ship reports a shipment as crossdock.shipment.dispatched.v1 through the
// gateway, as a warehouse's POST /v1/events does. The order must be one of
// the warehouse's open requests; the lines shipped are the order's.
func (p *Portal) ship(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	orderID := r.PostFormValue("order_id")
	d := workData{For: orderID}
	open, err := p.cfg.Orders.Open(r.Context(), pr.Warehouse)
	if err != nil {
		p.unavailable(w, r, "fulfilment requests", err)
		return
	}
	var o *orders.Order
	for i := range open {
		if open[i].OrderID == orderID {
			o = &open[i]
		}
	}
	if o == nil {
		d.Errors = web.Errors{{Code: bus.CodeUnknownOrder, Message: fmt.Sprintf("order %s is not an open request of warehouse %s", orderID, pr.Warehouse), Field: "order_id"}}
		p.renderWork(w, r, http.StatusNotFound, d)
		return
	}
	data := shipped{
		ShipmentID: strings.TrimSpace(r.PostFormValue("shipment_id")),
		OrderID:    o.OrderID,
		Lines:      o.Lines,
		Carrier:    strings.TrimSpace(r.PostFormValue("carrier")),
		SSCC:       strings.TrimSpace(r.PostFormValue("sscc")),
	}
	d.Sent = data
	formID := r.PostFormValue("form_id")
	if formID == "" {
		formID = newFormID()
	}
	ev, err := p.newEvent(pr, "shipment.dispatched", "portal-shipment:"+formID+":"+o.OrderID, o.Account, data)
	if err != nil {
		p.log.Error("portal shipment event", zap.Error(err))
		p.refuse(w, r, http.StatusInternalServerError, "the shipment could not be made into an event")
		return
	}
	_, problems, err := p.cfg.Gateway.Submit(r.Context(), sender(pr), bus.ChannelPortal, ev)
	if err != nil && r.Context().Err() == nil {
		status, code, again := notStored(w, err)
		d.Errors = web.Errors{{Code: code, Message: "the shipment could not be stored; " + again + " (it will not be reported twice)"}}
		p.renderWork(w, r, status, d)
		return
	}
	if err != nil {
		return
	}
	if len(problems) > 0 {
		for _, pe := range problems {
			d.Errors = append(d.Errors, web.FieldError{Code: pe.Code, Message: pe.Message, Field: strings.TrimPrefix(pe.Field, "data.")})
		}
		p.renderWork(w, r, http.StatusBadRequest, d)
		return
	}
	p.log.Info("portal shipment reported", zap.String("warehouse", pr.Warehouse), zap.String("order_id", o.OrderID))
	http.Redirect(w, r, Base+"/work?shipped="+o.OrderID, http.StatusSeeOther)
}
