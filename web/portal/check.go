package portal

import (
	"encoding/json"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/orders"
	"github.com/crossdock/crossdock/web"
)

// checkAnswer is what the ordering form's script gets as the user types:
// the dry run's decision and rules, and every reason placed on the form's
// fields with the API's code and message.
type checkAnswer struct {
	State   string             `json:"state"` // accepted, held or rejected: the page's style
	Summary string             `json:"summary"`
	Reasons web.Errors         `json:"reasons"`
	Result  orders.CheckResult `json:"result"`
}

// check is the form's dry run: the same Go function as POST
// /v1/orders/check (orders.Service.Check: the schema, the rules' Decide,
// duplicates), for the session's account. Nothing is stored.
func (p *Portal) check(w http.ResponseWriter, r *http.Request) {
	pr := web.FromContext(r.Context()).Principal
	f := readOrderForm(r)
	placed, errs, from := f.placed()
	data, _ := json.Marshal(placed)
	res, err := p.cfg.Orders.Check(r.Context(), pr.Account, data)
	if err != nil {
		p.log.Error("portal order check", zap.String("account", pr.Account), zap.Error(err))
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the check is not available right now", http.StatusServiceUnavailable)
		return
	}
	ans := checkAnswer{Result: res, Reasons: append(errs, fieldErrors(res.Reasons, from)...)}
	if ans.Reasons == nil {
		ans.Reasons = web.Errors{}
	}
	ans.State, ans.Summary = summary(res, len(errs))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(ans)
}

// summary says in a sentence what placing the order now would do.
func summary(res orders.CheckResult, unread int) (state, text string) {
	rules := ""
	if res.Rules.LeadDays != nil && res.Rules.MinUnits > 0 {
		rules = fmt.Sprintf(" %s units; the minimum at a lead time of %d days is %d.", formatUnits(res.Rules.Units), *res.Rules.LeadDays, res.Rules.MinUnits)
	}
	switch {
	case res.Decision == orders.DecisionReject || unread > 0:
		n := len(res.Reasons) + unread
		return orders.StateRejected, fmt.Sprintf("As it stands the order would be rejected: %d problem%s, shown next to the fields.%s", n, plural(n), rules)
	case res.Decision == orders.DecisionHold && res.ReleaseAt != nil:
		return orders.StateHeld, fmt.Sprintf("The order would be held until %s, the next ordering day (%s).%s",
			res.ReleaseAt.UTC().Format("2006-01-02 15:04 UTC"), bus.CodeOutsideOrderWindow, rules)
	}
	return orders.StateAccepted, "The order would be accepted." + rules
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
