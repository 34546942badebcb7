package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/planning"
	"github.com/crossdock/crossdock/services/scorecard"
	"github.com/crossdock/crossdock/web"
)

// scorecardData is the scorecard page's.
type scorecardData struct {
	Card   *scorecard.Card // nil when the query was refused
	Period scorecard.Period
	Day    string // the chooser's date: a day inside the period
	// LastDay is the period's last day (the card's To is the next one's
	// first).
	LastDay time.Time
	Errors  web.Errors
	// Prev and Next link the periods before and after; Next is "" while
	// the next period has not begun at the card's as-of time.
	Prev, Next string
	CSV        string // the card as the API's CSV
	Forecast   *planning.Accuracy
	Buyer      bool // may open the ordering form, where the tier's rules are
}

// scorecardPage shows the account's scorecard for a week or month: the
// card scorecard.Compute makes for GET /v1/scorecard, with the same
// period= and from= (scorecard.ParseQuery). The account is always the
// session's: the page takes no account parameter.
func (p *Portal) scorecardPage(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	d := scorecardData{Buyer: pr.Is(web.RoleBuyer)}
	period, at, err := scorecard.ParseQuery(r.URL.Query())
	if err != nil {
		d.Period, d.Day = scorecard.Period(r.URL.Query().Get("period")), r.URL.Query().Get("from")
		d.Errors = web.Errors{{Code: bus.CodeSchemaViolation, Message: err.Error(), Field: scorecard.FieldOf(err)}}
		p.render(w, r, http.StatusBadRequest, "scorecard", "Scorecard", Base+"/scorecard", d)
		return
	}
	card, err := p.cfg.Scorecard.Compute(r.Context(), pr.Account, period, at)
	if err != nil {
		p.unavailable(w, r, "scorecard figures", err)
		return
	}
	d.Card, d.Period, d.Day, d.LastDay = card, card.Period, card.From.Format(time.DateOnly), card.To.AddDate(0, 0, -1)
	d.Prev = scorecardLink("", card.Period, card.From.Add(-time.Nanosecond))
	if !card.AsOf.Before(card.To) {
		d.Next = scorecardLink("", card.Period, card.To)
	}
	d.CSV = scorecardLink(".csv", card.Period, card.From)
	d.Forecast, _ = card.Sections["forecast_accuracy"].(*planning.Accuracy)
	p.render(w, r, http.StatusOK, "scorecard", "Scorecard "+card.Label, Base+"/scorecard", d)
}

// scorecardCSV downloads the account's card as GET /v1/scorecard answers
// Accept: text/csv.
func (p *Portal) scorecardCSV(w http.ResponseWriter, r *http.Request) {
	account := web.FromContext(r.Context()).Principal.Account
	period, at, err := scorecard.ParseQuery(r.URL.Query())
	if err != nil {
		p.refuse(w, r, http.StatusBadRequest, bus.CodeSchemaViolation+": "+err.Error())
		return
	}
	card, err := p.cfg.Scorecard.Compute(r.Context(), account, period, at)
	if err != nil {
		p.unavailable(w, r, "scorecard figures", err)
		return
	}
	scorecard.ServeCSV(w, card)
}

// scorecardLink is the page (suffix "") or its CSV (".csv") for the period
// containing day.
func scorecardLink(suffix string, period scorecard.Period, day time.Time) string {
	q := url.Values{"period": {string(period)}, "from": {day.UTC().Format(time.DateOnly)}}
	return Base + "/scorecard" + suffix + "?" + q.Encode()
}

// percent shows a share (0.375) as "37.5%", and a figure with nothing to
// measure as "–".
func percent(share *float64) string {
	if share == nil {
		return "–"
	}
	return strconv.FormatFloat(*share*100, 'f', 1, 64) + "%"
}

// hours shows a duration in hours as "72.5 h", and nothing as "–".
func hours(h *float64) string {
	if h == nil {
		return "–"
	}
	return strconv.FormatFloat(*h, 'f', 1, 64) + " h"
}

// barWidth is a share as the width of a bar in a 0-100 SVG view box.
func barWidth(share *float64) string {
	if share == nil {
		return "0"
	}
	return strconv.FormatFloat(*share*100, 'f', 1, 64)
}
