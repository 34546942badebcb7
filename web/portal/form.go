package portal

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/web"
)

// orderForm is the ordering form as the user filled it in: rows of the
// lines table, then the lines pasted into the text area.
type orderForm struct {
	FormID        string
	PONumber      string
	ShipTo        string
	RequestedDate string
	Rows          []formRow
	Paste         string
}

// formRow is one row of the lines table.
type formRow struct {
	GTIN, Quantity, Unit string
}

// origin says where an order line came from, to show its problems there.
type origin struct {
	row   int // index in Rows, or -1
	paste int // line number in Paste (1-based), when row is -1
}

// minRows is how many line rows the form shows at least.
const minRows = 3

// readOrderForm reads the form of a request.
func readOrderForm(r *http.Request) orderForm {
	f := orderForm{
		FormID:        r.PostFormValue("form_id"),
		PONumber:      strings.TrimSpace(r.PostFormValue("po_number")),
		ShipTo:        strings.TrimSpace(r.PostFormValue("ship_to")),
		RequestedDate: strings.TrimSpace(r.PostFormValue("requested_date")),
		Paste:         r.PostFormValue("paste"),
	}
	gtins, qtys, units := r.PostForm["gtin"], r.PostForm["quantity"], r.PostForm["unit"]
	for i := range gtins {
		row := formRow{GTIN: strings.TrimSpace(gtins[i])}
		if i < len(qtys) {
			row.Quantity = strings.TrimSpace(qtys[i])
		}
		if i < len(units) {
			row.Unit = strings.TrimSpace(units[i])
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}

// padded returns the form with at least minRows rows, for rendering.
func (f orderForm) padded() orderForm {
	for len(f.Rows) < minRows {
		f.Rows = append(f.Rows, formRow{Unit: "EA"})
	}
	return f
}

// pasteSep splits a pasted line: tabs (from a spreadsheet), commas,
// semicolons or spaces.
var pasteSep = regexp.MustCompile(`[\t,; ]+`)

// placed turns the form into the order.placed data, the problems of what
// could not be read (a quantity that is not a number), and where each line
// came from. Empty rows are skipped; units default to EA.
func (f orderForm) placed() (orders.Placed, web.Errors, []origin) {
	p := orders.Placed{PONumber: f.PONumber, ShipTo: f.ShipTo, RequestedDate: f.RequestedDate, Lines: []orders.Line{}}
	var errs web.Errors
	var from []origin
	add := func(o origin, gtin, qty, unit, field string) {
		if unit == "" {
			unit = "EA"
		}
		q, err := strconv.ParseFloat(strings.ReplaceAll(qty, ",", "."), 64)
		if err != nil || math.IsNaN(q) || math.IsInf(q, 0) {
			errs = append(errs, web.FieldError{Code: bus.CodeSchemaViolation, Message: fmt.Sprintf("quantity %q is not a number", qty), Field: field})
			return
		}
		p.Lines = append(p.Lines, orders.Line{Line: len(p.Lines) + 1, GTIN: gtin, Quantity: q, Unit: strings.ToUpper(unit)})
		from = append(from, o)
	}
	for i, row := range f.Rows {
		if row.GTIN == "" && row.Quantity == "" {
			continue
		}
		add(origin{row: i}, row.GTIN, row.Quantity, row.Unit, fmt.Sprintf("row[%d].quantity", i))
	}
	for n, line := range strings.Split(f.Paste, "\n") {
		parts := pasteSep.Split(strings.TrimSpace(line), -1)
		if len(parts) == 1 && parts[0] == "" {
			continue
		}
		if len(parts) < 2 || len(parts) > 3 {
			errs = append(errs, web.FieldError{Code: bus.CodeSchemaViolation,
				Message: fmt.Sprintf("pasted line %d: want GTIN, quantity and optionally a unit, got %q", n+1, strings.TrimSpace(line)), Field: "paste"})
			continue
		}
		unit := ""
		if len(parts) == 3 {
			unit = parts[2]
		}
		add(origin{row: -1, paste: n + 1}, parts[0], parts[1], unit, "paste")
	}
	return p, errs, from
}

// lineField matches a problem's field on an order line: "lines[2].gtin"
// (the order rules) or "data.lines[2].gtin" (the gateway's schema check).
var lineField = regexp.MustCompile(`^(?:data\.)?lines\[(\d+)\](.*)$`)

// fieldErrors places the API's problems on the form's fields: the same
// code and message, with the field renamed to the input it came from (a
// row of the table, or the pasted text, whose line the message then names).
func fieldErrors(ps []bus.Problem, from []origin) web.Errors {
	var out web.Errors
	for _, pr := range ps {
		fe := web.FieldError{Code: pr.Code, Message: pr.Message, Field: strings.TrimPrefix(pr.Field, "data.")}
		if m := lineField.FindStringSubmatch(pr.Field); m != nil {
			i, _ := strconv.Atoi(m[1])
			if i < len(from) {
				if o := from[i]; o.row >= 0 {
					fe.Field = fmt.Sprintf("row[%d]%s", o.row, m[2])
				} else {
					fe.Field = "paste"
					fe.Message = fmt.Sprintf("pasted line %d: %s", o.paste, pr.Message)
				}
			}
		}
		out = append(out, fe)
	}
	return out
}

// formatUnits shows a quantity without a needless ".0".
func formatUnits(q float64) string {
	return strconv.FormatFloat(q, 'f', -1, 64)
}

// formFields are the fields the ordering form shows errors next to, besides
// its rows ("row[N]…").
var formFields = []string{"po_number", "ship_to", "requested_date", "lines", "paste", "pickup"}

// otherErrors are the problems of no field the form shows, listed above it.
func otherErrors(errs web.Errors) web.Errors {
	var out web.Errors
	for _, e := range errs {
		if !slices.Contains(formFields, e.Field) && !strings.HasPrefix(e.Field, "row[") {
			out = append(out, e)
		}
	}
	return out
}

// rowErrors are the problems of one row of the lines table.
func rowErrors(i int, errs web.Errors) web.Errors {
	prefix := fmt.Sprintf("row[%d]", i)
	var out web.Errors
	for _, e := range errs {
		if e.Field == prefix || strings.HasPrefix(e.Field, prefix+".") {
			out = append(out, e)
		}
	}
	return out
}
