package console

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/ops"
	"github.com/crossdock/crossdock/problem"
	"github.com/crossdock/crossdock/web"
)

// dlqView is the dead letters page.
type dlqView struct {
	Filter  ops.Filter
	Letters []ops.DeadLetter
	Errors  web.Errors
	Query   string // the filter as a query string, for the redrive form
}

// filterOf reads a DLQ filter from a query or form, naming the bad field.
func filterOf(get func(string) string) (ops.Filter, web.Errors) {
	f := ops.Filter{Account: get("account"), Warehouse: get("warehouse"), Code: get("code"), Limit: 200}
	var errs web.Errors
	for field, v := range map[string]string{"account": f.Account, "warehouse": f.Warehouse, "code": f.Code} {
		if v != "" && !token(v) {
			errs = append(errs, web.FieldError{Code: "schema_violation", Message: "want a-z, 0-9, - and _", Field: field})
		}
	}
	if errs != nil {
		return ops.Filter{Limit: 200}, errs
	}
	return f, nil
}

func token(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (c *Console) dlqPage(w http.ResponseWriter, r *http.Request) {
	f, errs := filterOf(r.URL.Query().Get)
	v := dlqView{Filter: f, Errors: errs, Query: url.Values{"account": {f.Account}, "warehouse": {f.Warehouse}, "code": {f.Code}}.Encode()}
	ctx, cancel := ctx(r)
	defer cancel()
	dls, err := c.cfg.Ops.List(ctx, f)
	if err != nil {
		v.Errors = append(v.Errors, web.FieldError{Code: "processing_failed", Message: err.Error()})
	}
	slices.Reverse(dls) // newest first
	v.Letters = dls
	c.render(w, r, http.StatusOK, "dlq", "Dead letters", v, Base+"/dlq")
}

// letterView is one dead letter's page.
type letterView struct {
	Letter  *ops.DeadLetter
	Headers []policyRow
}

func (c *Console) deadLetterPage(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", nil, "")
		return
	}
	ctx, cancel := ctx(r)
	defer cancel()
	d, err := c.cfg.Ops.Show(ctx, seq)
	if errors.Is(err, ops.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "notfound", "Not found", "dead letter "+r.PathValue("seq")+" is not (or no longer) in the DLQ: redriven already?", Base+"/dlq")
		return
	}
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "notfound", "Error", err.Error(), Base+"/dlq")
		return
	}
	v := letterView{Letter: d}
	for _, k := range slices.Sorted(maps.Keys(d.Header)) {
		v.Headers = append(v.Headers, policyRow{Key: k, Value: strings.Join(d.Header[k], ", ")})
	}
	c.render(w, r, http.StatusOK, "letter", "Dead letter "+r.PathValue("seq"), v, Base+"/dlq")
}

func (c *Console) redrive(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		back(w, r, "/dlq", "no such dead letter")
		return
	}
	ctx, cancel := ctx(r)
	defer cancel()
	res, err := c.cfg.Ops.Redrive(ctx, seq)
	if err != nil {
		back(w, r, "/dlq", "redrive of "+r.PathValue("seq")+" failed: "+err.Error())
		return
	}
	c.cfg.Log.Info("console redrive", zap.Uint64("seq", seq), zap.String("action", res.Action))
	what := "republished to " + res.Subject
	if res.Action == "delivered" {
		what = "delivered to " + res.Endpoint
	}
	back(w, r, "/dlq", "dead letter "+r.PathValue("seq")+" "+what)
}

func (c *Console) redriveAll(w http.ResponseWriter, r *http.Request) {
	f, errs := filterOf(r.PostFormValue)
	if errs != nil || (f.Account == "" && f.Warehouse == "" && f.Code == "") {
		back(w, r, "/dlq", "name an account, a warehouse or a code to redrive a set")
		return
	}
	ctx, cancel := ctx(r)
	defer cancel()
	rep, err := c.cfg.Ops.RedriveAll(ctx, f)
	if err != nil {
		back(w, r, "/dlq", "redrive failed: "+err.Error())
		return
	}
	c.cfg.Log.Info("console redrive set", zap.String("account", f.Account), zap.String("code", f.Code), zap.Int("redriven", len(rep.Redriven)), zap.Int("failed", len(rep.Failed)))
	msg := strconv.Itoa(len(rep.Redriven)) + " redriven"
	if len(rep.Failed) > 0 {
		msg += ", " + strconv.Itoa(len(rep.Failed)) + " failed (first: " + rep.Failed[0].Error + ")"
	}
	back(w, r, "/dlq?"+url.Values{"account": {f.Account}, "warehouse": {f.Warehouse}, "code": {f.Code}}.Encode(), msg)
}

// replaysView is the replays page.
type replaysView struct {
	Jobs    []ops.ReplayJob
	Running bool
	Errors  web.Errors
	Form    map[string]string
}

func (c *Console) replaysPage(w http.ResponseWriter, r *http.Request) {
	c.renderReplays(w, r, http.StatusOK, nil, nil)
}

func (c *Console) renderReplays(w http.ResponseWriter, r *http.Request, status int, errs web.Errors, form map[string]string) {
	v := replaysView{Jobs: c.cfg.Replays.List(), Errors: errs, Form: form}
	for _, j := range v.Jobs {
		v.Running = v.Running || j.State == "running"
	}
	if v.Form == nil {
		v.Form = map[string]string{"since": c.cfg.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")}
	}
	c.render(w, r, status, "replays", "Replays", v, Base+"/replays")
}

func (c *Console) startReplay(w http.ResponseWriter, r *http.Request) {
	form := map[string]string{}
	for _, k := range []string{"owner", "id", "since", "until", "types"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	req := ops.ReplayRequest{}
	var errs web.Errors
	if !token(form["id"]) || form["id"] == "" {
		errs = append(errs, web.FieldError{Code: "schema_violation", Message: "want an account or warehouse id", Field: "id"})
	}
	if form["owner"] == "warehouse" {
		req.Warehouse = form["id"]
	} else {
		req.Account = form["id"]
	}
	var err error
	if req.Since, err = time.Parse("2006-01-02T15:04", form["since"]); err != nil {
		errs = append(errs, web.FieldError{Code: "schema_violation", Message: "want a date and time (UTC)", Field: "since"})
	}
	if form["until"] != "" {
		if req.Until, err = time.Parse("2006-01-02T15:04", form["until"]); err != nil || !req.Until.After(req.Since) {
			errs = append(errs, web.FieldError{Code: "schema_violation", Message: "want a date and time after since", Field: "until"})
		}
	}
	req.Types = strings.FieldsFunc(form["types"], func(r rune) bool { return r == ',' || r == ' ' })
	if errs == nil {
		var job ops.ReplayJob
		if job, err = c.cfg.Replays.Start(req); err == nil {
			c.cfg.Log.Info("console replay", zap.String("job", job.ID), zap.String("account", req.Account), zap.String("warehouse", req.Warehouse))
			back(w, r, "/replays", "replay "+job.ID+" started: "+strconv.FormatUint(job.Total, 10)+" events to consider")
			return
		}
		code := problem.CodeProcessingFailed
		switch {
		case errors.Is(err, ops.ErrNotFound):
			code = problem.CodeNotFound
		case errors.Is(err, ops.ErrNoWebhook):
			code = problem.CodeNoWebhook
		}
		errs = append(errs, web.FieldError{Code: code, Message: err.Error(), Field: "id"})
	}
	c.renderReplays(w, r, http.StatusBadRequest, errs, form)
}
