package router

import (
	"slices"
	"strings"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/accounts"
)

// Lane intake: an intake subject (xd.in.<account>.<name>) names the account
// but not its tier, so one consumer of xd.in.> would make a strategic event
// wait behind every stable event published before it. The router therefore
// runs one durable consumer per lane (router-priority, -standard, -bulk),
// each filtered on the intake subjects of the accounts in that lane
// (xd.in.<account>.>; warehouses' xd.in.wh.> in the standard lane), and
// keeps the filters in step with the registry.
//
// Filters change while events arrive, and JetStream does not go back over
// messages a consumer has passed when its filter grows. So the sweep
// (sweep.go) guarantees that every event is routed or rejected: it reads
// what no lane covers (an event of an account in no lane, or one stored
// before its lane's filter took effect, which bus.Follower records as a
// stream sequence) and checks and routes it itself. Routing twice is
// harmless: JetStream stores the second copy in XD_ROUTED once, by
// Nats-Msg-Id. An account that changes lanes is added to its new lane
// first and removed from the old one only once that lane has delivered and
// acknowledged everything it had (bus.Follower's Handover keeps the
// filters and the sequences), so the two cover it together meanwhile.

// noAccounts is the filter of a lane without accounts: an empty filter would
// take every subject, and no account is called "_none".
var noAccounts = bus.InSubject(bus.Sender{Account: "_none"}, ">")

// warehouses is the filter of warehouse intake, consumed in the standard lane.
const warehouses = bus.AllWarehouseIn

// lane is one lane's intake consumer; its follower keeps the filter in step
// with the registry and tells the sweep what the lane covers.
type lane struct {
	name    accounts.Lane
	durable string
	follow  *bus.Follower
}

// filterKey is the lane filter that covers an intake subject.
func filterKey(subject string) string {
	tok := strings.SplitN(subject, ".", 4)
	if len(tok) < 4 || tok[0] != "xd" || tok[1] != "in" {
		return ""
	}
	if tok[2] == "wh" {
		return warehouses
	}
	return bus.InSubject(bus.Sender{Account: tok[2]}, ">")
}

// wanted is the filter the registry asks for in lane l.
func (s *Service) wanted(l accounts.Lane) []string {
	var out []string
	for _, id := range s.reg.AccountsIn(l) {
		out = append(out, bus.InSubject(bus.Sender{Account: id}, ">"))
	}
	if l == accounts.Standard {
		out = append(out, warehouses)
	}
	if len(out) == 0 {
		out = []string{noAccounts}
	}
	slices.Sort(out)
	return out
}
