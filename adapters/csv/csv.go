// Package csv is the adapter for purchase orders as CSV files, the format of
// small accounts that type orders into a spreadsheet: one row per order line,
// a header row naming the columns, rows grouped into orders by PO number.
//
// Columns (header names are case-insensitive, in any order; extra spaces are
// trimmed):
//
//	po_number       required  the customer's PO number; rows with the same one are one order
//	ship_to         required  GLN of the delivery location (13 digits)
//	requested_date  required  YYYY-MM-DD, YYYYMMDD or DD.MM.YYYY
//	gtin            required  GTIN-8, -12, -13 or -14 (written as GTIN-14)
//	quantity        required  a number above zero; with ";" separators "12,5" is 12.5
//	unit            optional  UN/ECE Rec. 20 code, default EA
//	line            optional  line number, default the row's position within its order
//	pickup          optional  "factory" to collect at the factory
//
// A column not in this list is an error (a typo such as "qty" would otherwise
// lose data silently). The separator is "," or ";" (European spreadsheets),
// chosen by which occurs more in the header row; a UTF-8 byte order mark and
// CRLF line ends are accepted, fields may be quoted.
//
// An order is all or nothing: a bad row fails its whole order, and the other
// orders of the file decode. Every problem names its line and column. A CSV
// syntax error (an unclosed quote) fails the whole file, since no row after
// it can be trusted.
package csv

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
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
const Format = "csv"

func init() { adapters.Register(New()) }

// Adapter decodes CSV orders. The zero value is ready for use.
type Adapter struct{}

// New returns the CSV adapter.
func New() *Adapter { return &Adapter{} }

var columns = []string{"po_number", "ship_to", "requested_date", "gtin", "quantity", "unit", "line", "pickup"}

var required = []string{"po_number", "ship_to", "requested_date", "gtin", "quantity"}

// Info describes the format.
func (*Adapter) Info() adapters.Info {
	return adapters.Info{
		Format:       Format,
		Description:  "Purchase orders as CSV: a header row, then one row per order line, grouped into orders by po_number",
		ContentTypes: []string{"text/csv"},
		Extensions:   []string{".csv"},
		Takes:        []string{"order lines with columns " + strings.Join(columns, ", ") + " (separator , or ;)"},
		Makes:        []string{schemas.OrderPlaced},
		Senders:      []string{adapters.SenderAccounts},
	}
}

// order is an adapters.Order being read, with where it came from.
type order struct {
	adapters.Order

	firstLine int
	failed    bool
	lineNos   lineIndex // order line number → file line
}

// lineIndex maps an order's line numbers to the file lines they are on. Most
// orders have a few lines: those are kept in the order itself and searched
// one by one; a map is made only for an order of more (a partner file of
// 50,000 one-line orders made 50,000 maps).
type lineIndex struct {
	few  [4]struct{ n, fileLine int }
	used int
	many map[int]int
}

// find returns the file line of order line n.
func (x *lineIndex) find(n int) (int, bool) {
	if x.many != nil {
		l, ok := x.many[n]
		return l, ok
	}
	for _, p := range x.few[:x.used] {
		if p.n == n {
			return p.fileLine, true
		}
	}
	return 0, false
}

// set records that order line n is on fileLine.
func (x *lineIndex) set(n, fileLine int) {
	if x.many == nil && x.used < len(x.few) {
		for i := range x.few[:x.used] {
			if x.few[i].n == n {
				x.few[i].fileLine = fileLine
				return
			}
		}
		x.few[x.used] = struct{ n, fileLine int }{n, fileLine}
		x.used++
		return
	}
	if x.many == nil {
		x.many = make(map[int]int, 2*len(x.few))
		for _, p := range x.few {
			x.many[p.n] = p.fileLine
		}
	}
	x.many[n] = fileLine
}

// Decode reads the file's orders: one order.placed per PO number.
func (a *Adapter) Decode(in adapters.Input) ([]*event.Event, error) {
	if in.Warehouse != "" {
		return nil, adapters.Errorf("file", "CSV orders come from accounts, not warehouses")
	}
	data := bytes.TrimPrefix(in.Data, []byte("\xef\xbb\xbf"))
	sep := separator(data)
	r := stdcsv.NewReader(bytes.NewReader(data))
	r.Comma = sep
	r.FieldsPerRecord = -1
	r.ReuseRecord = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, adapters.Errorf("line 1", "the file is empty: it needs a header row (%s) and at least one row", strings.Join(required, ","))
	}
	if err != nil {
		return nil, syntaxError(err)
	}
	col, perr := readHeader(header)
	if perr != nil {
		return nil, perr
	}
	var problems []problem.Problem
	var orders []*order
	byPO := map[string]*order{}
	rows := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		lineNo, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		rows++
		o, ps := addRow(rec, lineNo, col, sep, byPO, &orders)
		if len(ps) > 0 {
			problems = append(problems, ps...)
			if o != nil {
				o.failed = true
			}
		}
	}
	if rows == 0 {
		return nil, adapters.Errorf("line 2", "the file has a header row but no order lines")
	}
	var evs []*event.Event
	for _, o := range orders {
		if o.failed {
			problems = append(problems, problem.Problem{Code: problem.CodeParseError, Field: fmt.Sprintf("line %d column po_number", o.firstLine),
				Message: fmt.Sprintf("order %s is not sent: it has errors on the lines listed", o.PONumber)})
			continue
		}
		ev, err := adapters.NewEvent(Format, in, in.Account, schemas.OrderPlaced, "po/"+o.PONumber, o)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	if len(problems) > 0 {
		return evs, &adapters.Error{Problems: problems}
	}
	return evs, nil
}

// separator picks ";" when the header row has more semicolons than commas.
func separator(data []byte) rune {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		return ';'
	}
	return ','
}

func syntaxError(err error) error {
	var pe *stdcsv.ParseError
	if errors.As(err, &pe) {
		return adapters.Errorf(fmt.Sprintf("line %d column %d", pe.Line, pe.Column), "%v; the file is not read past this point, no order is sent", pe.Err)
	}
	return adapters.Errorf("file", "%v", err)
}

func readHeader(header []string) (map[string]int, error) {
	col := map[string]int{}
	var ps []problem.Problem
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		field := fmt.Sprintf("line 1 column %d", i+1)
		switch {
		case name == "":
			ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: field, Message: "a header cell is empty"})
		case !slices.Contains(columns, name):
			ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: field,
				Message: fmt.Sprintf("%q is not a column of CSV orders (%s)", h, strings.Join(columns, ", "))})
		case col[name] != 0:
			ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: field, Message: fmt.Sprintf("column %s appears twice", name)})
		default:
			col[name] = i + 1 // 1-based, so that 0 means absent
		}
	}
	for _, r := range required {
		if col[r] == 0 {
			ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: "line 1",
				Message: fmt.Sprintf("the header row has no %s column; required: %s", r, strings.Join(required, ", "))})
		}
	}
	if len(ps) > 0 {
		return nil, &adapters.Error{Problems: ps}
	}
	return col, nil
}

// addRow adds one row to its order and returns the order (nil when the row
// names none) and the row's problems.
func addRow(rec []string, lineNo int, col map[string]int, sep rune, byPO map[string]*order, orders *[]*order) (*order, []problem.Problem) {
	var ps []problem.Problem
	bad := func(name, format string, args ...any) {
		ps = append(ps, problem.Problem{Code: problem.CodeParseError, Field: fmt.Sprintf("line %d column %s", lineNo, name), Message: fmt.Sprintf(format, args...)})
	}
	get := func(name string) string {
		i := col[name]
		if i == 0 || i > len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i-1])
	}
	po := get("po_number")
	if po == "" {
		bad("po_number", "the PO number is empty")
		return nil, ps
	}
	shipTo := get("ship_to")
	if err := adapters.CheckGLN(shipTo); err != nil {
		bad("ship_to", "%v", err)
	}
	date, derr := parseDate(get("requested_date"))
	if derr != nil {
		bad("requested_date", "%v", derr)
	}
	pickup := strings.ToLower(get("pickup"))
	if pickup != "" && pickup != "factory" {
		bad("pickup", "%q: leave it empty or write factory", get("pickup"))
	}
	o := byPO[po]
	if o == nil {
		// The order's first row decides where and when it goes.
		o = &order{Order: adapters.Order{PONumber: po, ShipTo: shipTo, RequestedDate: date, Pickup: pickup}, firstLine: lineNo}
		byPO[po] = o
		*orders = append(*orders, o)
	} else {
		if shipTo != o.ShipTo {
			bad("ship_to", "order %s has ship_to %s on line %d and %s here: one order goes to one place", po, o.ShipTo, o.firstLine, shipTo)
		}
		if date != o.RequestedDate && derr == nil {
			bad("requested_date", "order %s has requested_date %s on line %d and %s here", po, o.RequestedDate, o.firstLine, date)
		}
		if pickup != o.Pickup {
			bad("pickup", "order %s has pickup %q on line %d and %q here", po, o.Pickup, o.firstLine, pickup)
		}
	}
	gtin := strings.ReplaceAll(get("gtin"), " ", "")
	if err := adapters.CheckGTIN(gtin); err != nil {
		bad("gtin", "%v", err)
	}
	qtyText := get("quantity")
	if sep == ';' {
		qtyText = strings.Replace(qtyText, ",", ".", 1)
	}
	qty, err := strconv.ParseFloat(qtyText, 64)
	switch {
	case get("quantity") == "":
		bad("quantity", "the quantity is empty")
	case err != nil:
		bad("quantity", "%q is not a number", get("quantity"))
	case qty <= 0 || qty > 1e9:
		bad("quantity", "%s: the quantity must be above zero and at most 1000000000", get("quantity"))
	}
	unit := strings.ToUpper(get("unit"))
	if unit == "" {
		unit = "EA"
	}
	if !validUnit(unit) {
		bad("unit", "%q is not a unit code: 1 to 3 letters or digits (UN/ECE Rec. 20), e.g. EA, CS", get("unit"))
	}
	if err == nil {
		if werr := adapters.CheckWhole(qty, unit); werr != nil {
			bad("quantity", "%v", werr)
		}
	}
	n := len(o.Lines) + 1
	if s := get("line"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			bad("line", "%q is not a line number (a whole number from 1)", s)
		}
		n = v
	}
	if prev, dup := o.lineNos.find(n); dup {
		bad("line", "order %s has line %d twice (lines %d and %d of the file)", po, n, prev, lineNo)
	}
	o.lineNos.set(n, lineNo)
	if len(ps) == 0 {
		o.Lines = append(o.Lines, adapters.OrderLine{Line: n, GTIN: gs1.GTIN14(gtin), Quantity: qty, Unit: unit})
	}
	return o, ps
}

func validUnit(u string) bool {
	if len(u) < 1 || len(u) > 3 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if !('A' <= u[i] && u[i] <= 'Z' || '0' <= u[i] && u[i] <= '9') {
			return false
		}
	}
	return true
}

// parseDate reads the date layouts spreadsheets write.
func parseDate(s string) (string, error) {
	if s == "" {
		return "", errors.New("the requested date is empty")
	}
	for _, layout := range []string{time.DateOnly, "20060102", "02.01.2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.DateOnly), nil
		}
	}
	return "", fmt.Errorf("%q is not a date: write YYYY-MM-DD (or YYYYMMDD, DD.MM.YYYY)", s)
}
