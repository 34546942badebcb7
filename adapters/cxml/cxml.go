// Package cxml is the adapter for cXML OrderRequest documents, the purchase
// orders of procurement networks (SAP Ariba, Coupa). It is the worked example
// of docs/adapters.md: one package, one Register call in init, one line in
// adapters/all, tested with adapters/adaptertest.
//
// Mapping (cXML 1.2):
//
//	OrderRequestHeader@orderID                → po_number (type "new" only)
//	OrderRequestHeader/ShipTo/Address@addressID → ship_to, a GLN (addressIDDomain GLN, or 13 digits)
//	ItemOut@requestedDeliveryDate             → requested_date (the same on every ItemOut)
//	ItemOut@lineNumber, @quantity             → lines[].line, lines[].quantity
//	ItemOut/ItemID/IdReference@identifier     → lines[].gtin, for domain GTIN, EAN-13, UPC or EAN
//	  (else ItemOut/ItemID/SupplierPartID when it is a GTIN)
//	ItemOut/ItemDetail/UnitOfMeasure          → lines[].unit (cXML already uses UN/CEFACT codes)
//
// A document is one order, all or nothing; problems name the XML line.
package cxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/adapters"
	"github.com/crossdock/crossdock/gs1"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/schemas"
)

// Format is the adapter's name in /v1/ingest/{format}.
const Format = "cxml"

func init() { adapters.Register(New()) }

// Adapter decodes cXML OrderRequests. The zero value is ready for use.
type Adapter struct{}

// New returns the cXML adapter.
func New() *Adapter { return &Adapter{} }

// Info describes the format.
func (*Adapter) Info() adapters.Info {
	return adapters.Info{
		Format:       Format,
		Description:  "cXML 1.2 OrderRequest purchase orders, as sent by procurement networks",
		ContentTypes: []string{"text/xml", "application/xml"},
		Extensions:   []string{".xml", ".cxml"},
		Takes:        []string{"OrderRequest (type new) with a GLN ship-to and GTIN items"},
		Makes:        []string{schemas.OrderPlaced},
		Senders:      []string{adapters.SenderAccounts},
	}
}

// The parts of cXML the adapter reads.
type header struct {
	OrderID string `xml:"orderID,attr"`
	Type    string `xml:"type,attr"`
	ShipTo  struct {
		Address struct {
			ID     string `xml:"addressID,attr"`
			Domain string `xml:"addressIDDomain,attr"`
		} `xml:"Address"`
	} `xml:"ShipTo"`
}

type itemOut struct {
	Quantity  string `xml:"quantity,attr"`
	Line      string `xml:"lineNumber,attr"`
	Requested string `xml:"requestedDeliveryDate,attr"`
	ItemID    struct {
		SupplierPartID string `xml:"SupplierPartID"`
		Refs           []struct {
			Domain     string `xml:"domain,attr"`
			Identifier string `xml:"identifier,attr"`
		} `xml:"IdReference"`
	} `xml:"ItemID"`
	Unit string `xml:"ItemDetail>UnitOfMeasure"`
}

// Decode reads one OrderRequest.
func (a *Adapter) Decode(in adapters.Input) ([]*event.Event, error) {
	if in.Warehouse != "" {
		return nil, adapters.Errorf("document", "cXML orders come from accounts, not warehouses")
	}
	d := xml.NewDecoder(bytes.NewReader(in.Data))
	var ps []problem.Problem
	bad := func(lineNo int, where, format string, args ...any) {
		ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: fmt.Sprintf("line %d %s", lineNo, where), Message: fmt.Sprintf(format, args...)})
	}
	var o adapters.Order
	var h *header
	items := 0
	seen := map[int]bool{}
	sawRoot := false
	for {
		lineNo, _ := d.InputPos()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, adapters.Errorf(fmt.Sprintf("line %d", lineNo), "not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		lineNo, _ = d.InputPos()
		switch se.Name.Local {
		case "cXML":
			sawRoot = true
		case "OrderRequestHeader":
			h = &header{}
			if err := d.DecodeElement(h, &se); err != nil {
				return nil, adapters.Errorf(fmt.Sprintf("line %d OrderRequestHeader", lineNo), "%v", err)
			}
			switch {
			case h.Type != "" && h.Type != "new":
				bad(lineNo, "OrderRequestHeader type", "type %q: the hub takes new orders; updates and deletions are not read", h.Type)
			case strings.TrimSpace(h.OrderID) == "":
				bad(lineNo, "OrderRequestHeader orderID", "the order has no orderID")
			}
			o.PONumber = strings.TrimSpace(h.OrderID)
			gln := h.ShipTo.Address.ID
			if err := adapters.CheckGLN(gln); err != nil || (h.ShipTo.Address.Domain != "" && !strings.EqualFold(h.ShipTo.Address.Domain, "GLN")) {
				bad(lineNo, "OrderRequestHeader ShipTo Address addressID", "the ship-to must be a GLN (addressID, addressIDDomain=\"GLN\"): %q (domain %q)", gln, h.ShipTo.Address.Domain)
			}
			o.ShipTo = gln
		case "ItemOut":
			items++
			var it itemOut
			if err := d.DecodeElement(&it, &se); err != nil {
				return nil, adapters.Errorf(fmt.Sprintf("line %d ItemOut", lineNo), "%v", err)
			}
			where := func(what string) string { return fmt.Sprintf("ItemOut %d %s", items, what) }
			l := adapters.OrderLine{Line: items, Unit: strings.TrimSpace(it.Unit)}
			if it.Line != "" {
				n, err := strconv.Atoi(it.Line)
				if err != nil || n < 1 {
					bad(lineNo, where("lineNumber"), "%q is not a line number", it.Line)
				}
				l.Line = n
			}
			if seen[l.Line] {
				bad(lineNo, where("lineNumber"), "line %d appears twice", l.Line)
			}
			seen[l.Line] = true
			q, err := strconv.ParseFloat(it.Quantity, 64)
			if err != nil || q <= 0 || q > 1e9 {
				bad(lineNo, where("quantity"), "%q is not a quantity above zero", it.Quantity)
			}
			l.Quantity = q
			if l.Unit == "" {
				l.Unit = "EA"
			}
			if len(l.Unit) > 3 || strings.ToUpper(l.Unit) != l.Unit {
				bad(lineNo, where("UnitOfMeasure"), "%q is not a UN/CEFACT unit code", l.Unit)
			}
			if err := adapters.CheckWhole(q, l.Unit); err != nil {
				bad(lineNo, where("quantity"), "%v", err)
			}
			l.GTIN = gtinOf(it)
			if err := adapters.CheckGTIN(l.GTIN); err != nil {
				bad(lineNo, where("ItemID"), "no GTIN: give IdReference domain=\"GTIN\" (or a GTIN as SupplierPartID): %v", err)
			}
			l.GTIN = gs1.GTIN14(l.GTIN)
			if date, err := requested(it.Requested); err != nil {
				bad(lineNo, where("requestedDeliveryDate"), "%v", err)
			} else if o.RequestedDate == "" {
				o.RequestedDate = date
			} else if date != o.RequestedDate {
				bad(lineNo, where("requestedDeliveryDate"), "%s differs from %s on the first item: one order has one requested date", date, o.RequestedDate)
			}
			o.Lines = append(o.Lines, l)
		}
	}
	switch {
	case !sawRoot:
		return nil, adapters.Errorf("line 1", "not a cXML document (no cXML element)")
	case h == nil:
		return nil, adapters.Errorf("document", "no OrderRequestHeader: the hub reads cXML OrderRequests")
	case items == 0:
		bad(1, "OrderRequest", "the order has no ItemOut")
	}
	if len(ps) > 0 {
		return nil, &adapters.Error{Problems: ps}
	}
	ev, err := adapters.NewEvent(Format, in, in.Account, schemas.OrderPlaced, "po/"+o.PONumber, o)
	if err != nil {
		return nil, err
	}
	return []*event.Event{ev}, nil
}

// gtinOf picks the item's GTIN.
func gtinOf(it itemOut) string {
	for _, r := range it.ItemID.Refs {
		switch strings.ToUpper(r.Domain) {
		case "GTIN", "EAN-13", "EAN", "UPC", "GTIN-14":
			return strings.TrimSpace(r.Identifier)
		}
	}
	return strings.TrimSpace(it.ItemID.SupplierPartID)
}

// requested reads a cXML date (ISO 8601 date-time, or a date).
func requested(s string) (string, error) {
	if s == "" {
		return "", errors.New("no requestedDeliveryDate: the hub needs the date the goods are wanted")
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), nil
		}
	}
	return "", fmt.Errorf("%q is not a date (ISO 8601)", s)
}
