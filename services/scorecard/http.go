package scorecard

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/services/accounts"
)

// Handler serves GET /v1/scorecard?period=week|month&from=<date>: the
// calling account's card for the period containing from (a date or RFC 3339
// time; default now), as JSON, or as CSV with Accept: text/csv. Another
// account's card is never reachable: the account is the API key's.
func (s *Scorecard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/scorecard", s.reg.AccountOnly(func(w http.ResponseWriter, r *http.Request, entry *accounts.Entry) {
		account := entry.Account.ID
		p, at, err := ParseQuery(r.URL.Query())
		if err != nil {
			problem.One(w, http.StatusBadRequest, bus.CodeSchemaViolation, err.Error(), FieldOf(err))
			return
		}
		card, err := s.Compute(r.Context(), account, p, at)
		if err != nil {
			s.log.Error("scorecard", zap.String("account", account), zap.Error(err))
			problem.One(w, http.StatusServiceUnavailable, bus.CodeProcessingFailed, "the scorecard cannot be computed right now", "")
			return
		}
		if wantsCSV(r) {
			ServeCSV(w, card)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(card)
	}))
	return mux
}

// wantsCSV reports whether the Accept header asks for text/csv.
func wantsCSV(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// QueryError is a period= or from= that a scorecard request cannot take:
// the field and why, answered as schema_violation.
type QueryError struct {
	Field   string
	Message string
}

func (e *QueryError) Error() string { return e.Message }

// FieldOf is the field a ParseQuery error names ("" for another error).
func FieldOf(err error) string {
	var bad *QueryError
	if errors.As(err, &bad) {
		return bad.Field
	}
	return ""
}

// ParseQuery reads a scorecard request's period (week, the default, or
// month) and from (a date or RFC 3339 time inside the period; zero when
// absent: the clock's now), as GET /v1/scorecard and the portal's page take
// them, so that both refuse the same input with the same message. Its
// error is a *QueryError.
func ParseQuery(q url.Values) (Period, time.Time, error) {
	p := Period(q.Get("period"))
	if p == "" {
		p = Week
	}
	if p != Week && p != Month {
		return "", time.Time{}, &QueryError{Field: "period", Message: fmt.Sprintf("period %q: want week or month", p)}
	}
	v := q.Get("from")
	if v == "" {
		return p, time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return p, t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return "", time.Time{}, &QueryError{Field: "from", Message: fmt.Sprintf("from: %q: want a date (YYYY-MM-DD) or an RFC 3339 time", v)}
	}
	return p, t, nil
}

// ServeCSV answers a card as CSV (WriteCSV) to be saved as a file named
// after the account and period: the API's Accept: text/csv answer and the
// portal's download are the same bytes.
func ServeCSV(w http.ResponseWriter, c *Card) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "scorecard-"+c.Account+"-"+c.Label+".csv"))
	_ = WriteCSV(w, c)
}

// WriteCSV writes a card as two columns, metric and value, one row per
// figure, named as in the JSON (orders.fill_rate); an empty value is a
// figure with nothing to measure (a rate of no orders). Sections are
// flattened the same way (sections.<name>.<key>).
func WriteCSV(w interface{ Write([]byte) (int, error) }, c *Card) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	var rows [][]string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(join(prefix, k), x[k])
			}
		case []any:
			for i, e := range x {
				walk(join(prefix, strconv.Itoa(i+1)), e)
			}
		case nil:
			rows = append(rows, []string{prefix, ""})
		case float64:
			rows = append(rows, []string{prefix, strconv.FormatFloat(x, 'f', -1, 64)})
		default:
			rows = append(rows, []string{prefix, fmt.Sprint(x)})
		}
	}
	// The header fields first, in reading order, then the figures.
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"metric", "value"})
	for _, k := range []string{"account", "period", "label", "from", "to", "as_of"} {
		_ = cw.Write([]string{k, fmt.Sprint(doc[k])})
		delete(doc, k)
	}
	for _, k := range []string{"orders", "vmi", "sections"} {
		if v, ok := doc[k]; ok {
			walk(k, v)
		}
	}
	_ = cw.WriteAll(rows)
	return cw.Error()
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
