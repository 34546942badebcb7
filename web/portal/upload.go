package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/gateway"
	"github.com/crossdock/crossdock/web"
)

// uploadData is the upload page's: the form, and after an upload its
// results, one entry per stored event and one per problem.
type uploadData struct {
	Formats  []adapters.Info
	Format   string
	Account  bool // accounts get a CSV template
	Done     bool
	Stored   []storedEvent
	Problems web.Errors
	Errors   web.Errors
}

// storedEvent is an event a file made and the hub stored.
type storedEvent struct {
	Type string
	ID   string
	PO   string // for orders
}

func (p *Portal) uploadData(pr web.Principal) uploadData {
	d := uploadData{Account: pr.Account != "", Format: "csv"}
	if p.cfg.Ingest != nil {
		d.Formats = p.cfg.Ingest.Formats(pr.Warehouse != "")
	}
	if len(d.Formats) > 0 && pr.Warehouse != "" {
		d.Format = d.Formats[0].Format
	}
	return d
}

// uploadForm shows the file upload form.
func (p *Portal) uploadForm(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Ingest == nil {
		p.refuse(w, r, http.StatusNotFound, "This process does not take files.")
		return
	}
	p.render(w, r, http.StatusOK, "upload", "Upload a file", Base+"/upload", p.uploadData(web.FromContext(r.Context()).Principal))
}

// upload takes a file in any registered format through the same path as
// POST /v1/ingest/{format}: each unit (a CSV order, an X12 transaction set)
// is stored or refused on its own, and the page lists both.
func (p *Portal) upload(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	if p.cfg.Ingest == nil {
		p.refuse(w, r, http.StatusNotFound, "This process does not take files.")
		return
	}
	d := p.uploadData(pr)
	d.Format = r.PostFormValue("format")
	fail := func(status int, code, msg, field string) {
		d.Errors = web.Errors{{Code: code, Message: msg, Field: field}}
		p.render(w, r, status, "upload", "Upload a file", Base+"/upload", d)
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		fail(http.StatusBadRequest, bus.CodeParseError, "choose a file to upload", "file")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, gateway.MaxFileSize+1))
	if err != nil {
		fail(http.StatusBadRequest, bus.CodeParseError, "reading the file: "+err.Error(), "file")
		return
	}
	if len(data) > gateway.MaxFileSize {
		fail(http.StatusRequestEntityTooLarge, bus.CodeTooLarge, fmt.Sprintf("the file is over the limit of %d bytes", gateway.MaxFileSize), "file")
		return
	}
	res, err := p.cfg.Ingest.File(r.Context(), d.Format, sender(pr), "", data)
	if errors.Is(err, gateway.ErrNotStored) {
		status, code, again := notStored(w, err)
		fail(status, code, "the events could not be stored; "+again+" (the same file makes the same ids)", "file")
		return
	}
	if err != nil {
		return
	}
	d.Done = true
	for _, ev := range res.Stored {
		s := storedEvent{Type: bus.Name(ev.Type()), ID: ev.ID()}
		var po struct {
			PONumber string `json:"po_number"`
		}
		if json.Unmarshal(ev.Data(), &po) == nil {
			s.PO = po.PONumber
		}
		d.Stored = append(d.Stored, s)
	}
	for _, pe := range res.Problems {
		d.Problems = append(d.Problems, web.FieldError{Code: pe.Code, Message: pe.Message, Field: pe.Field})
	}
	p.log.Info("portal file", zap.String("account", pr.Account), zap.String("warehouse", pr.Warehouse),
		zap.String("format", d.Format), zap.Int("stored", len(d.Stored)), zap.Int("problems", len(d.Problems)))
	status := http.StatusOK
	if len(d.Problems) > 0 {
		status = http.StatusBadRequest
	}
	p.render(w, r, status, "upload", "Upload a file", Base+"/upload", d)
}

// uploadTemplate is a CSV file to start from: the csv adapter's columns and
// two example lines of one order to the account's first location its tier
// delivers to.
func (p *Portal) uploadTemplate(w http.ResponseWriter, r *http.Request) {
	e, ok := p.entry(w, r)
	if !ok {
		return
	}
	gln := "0614141000005"
	for _, l := range e.Account.Locations {
		if e.Policy.AllowsShipTo(l.Type) {
			gln = l.GLN
			break
		}
	}
	date := p.cfg.Now().UTC().AddDate(0, 0, 14).Format("2006-01-02")
	var b strings.Builder
	b.WriteString("po_number,ship_to,requested_date,gtin,quantity,unit\n")
	fmt.Fprintf(&b, "PO-1001,%s,%s,00614141000012,60,EA\n", gln, date)
	fmt.Fprintf(&b, "PO-1001,%s,%s,00614141000029,60,EA\n", gln, date)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="crossdock-orders-template.csv"`)
	_, _ = w.Write([]byte(b.String()))
}
