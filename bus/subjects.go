package bus

// The subject scheme (CONTRACT.md section 3), written once: every package
// builds its subjects and filters here. An account, warehouse, tier, name
// or code may be a wildcard token ("*", ">") to make a filter:
// OutSubject("*", "order.accepted"), InSubject(Sender{Account: "acme"}, ">").

// Filters of every subject of one kind.
const (
	AllIn          = "xd.in.>"     // intake events, as sent (XD_IN)
	AllWarehouseIn = "xd.in.wh.>"  // warehouses' intake events
	AllRaw         = "xd.raw.>"    // partners' files, as sent (XD_RAW)
	AllRouted      = "xd.routed.>" // checked events in their lanes (XD_ROUTED)
	AllOut         = "xd.out.>"    // accounts' answers (XD_OUT)
	AllWarehouses  = "xd.wh.>"     // warehouses' instructions (XD_OUT)
	AllExperiments = "xd.exp.>"    // experiments' copies (XD_OUT)
	AllDLQ         = "xd.dlq.>"    // dead letters (XD_DLQ)
)

// IntakePrefix is put before an intake subject (xd.in.…, xd.raw.…) to store
// the message in XD_IN or XD_RAW: the streams listen on xd.intake.in.> and
// xd.intake.raw.> only, and map them back (a stream subject transform), so
// what is stored, and every consumer's filter, keeps the customer-facing
// subject. Only the hub may publish there; customers publish on xd.in.…
// and xd.raw.…, where the gateway's intake relay takes the message, decides
// the key JetStream deduplicates on, and stores it (CONTRACT.md section 3).
const IntakePrefix = "xd.intake."

// InSubject is the intake subject of an event named name from a sender
// (xd.in.<account>.<name>, xd.in.wh.<warehouse>.<name>): where the sender
// publishes it, and where XD_IN keeps it.
func InSubject(from Sender, name string) string {
	if from.Warehouse != "" {
		return "xd.in.wh." + from.Warehouse + "." + name
	}
	return "xd.in." + from.Account + "." + name
}

// StoreSubject is where the hub itself stores an event in XD_IN: the
// intake subject under IntakePrefix, which only the hub may publish on and
// which the stream maps back to InSubject.
func StoreSubject(from Sender, name string) string { return IntakePrefix + InSubject(from, name) }

// RawSubject is where a sender publishes a partner file in format
// (xd.raw.<account>.<format>, xd.raw.wh.<warehouse>.<format>).
func RawSubject(from Sender, format string) string {
	if from.Warehouse != "" {
		return "xd.raw.wh." + from.Warehouse + "." + format
	}
	return "xd.raw." + from.Account + "." + format
}

// RoutedSubject is the lane subject of a checked event of an account:
// xd.routed.<tier>.<account>.<name>.
func RoutedSubject(tier, account, name string) string {
	return "xd.routed." + tier + "." + account + "." + name
}

// OutSubject is an account's outbound subject for events named name.
func OutSubject(account, name string) string { return "xd.out." + account + "." + name }

// WarehouseSubject is a warehouse's subject for events named name.
func WarehouseSubject(warehouse, name string) string { return "xd.wh." + warehouse + "." + name }

// ExperimentSubject is where an account's experiment receives its copy of
// an event named name: xd.exp.<account>.<experiment>.<name>.
func ExperimentSubject(account, experiment, name string) string {
	return "xd.exp." + account + "." + experiment + "." + name
}

// Subject returns the subject on which the sender receives events named name
// (xd.out.<account>.<name> or xd.wh.<warehouse>.<name>).
func (s Sender) Subject(name string) string {
	if s.Warehouse != "" {
		return WarehouseSubject(s.Warehouse, name)
	}
	return OutSubject(s.Account, name)
}

// DLQSubject is where the sender's dead letters with this code go
// (xd.dlq.<account>.<code>, xd.dlq.wh.<warehouse>.<code>; an unknown
// sender's go to xd.dlq._unknown.<code>).
func (s Sender) DLQSubject(code string) string {
	if s.Warehouse != "" {
		return "xd.dlq.wh." + s.Warehouse + "." + code
	}
	a := s.Account
	if a == "" {
		a = "_unknown"
	}
	return "xd.dlq." + a + "." + code
}

// ValidToken reports whether s may stand as one token of a subject a filter
// is built from (an account, a warehouse, an error code): 1 to 64 of a-z,
// 0-9, '-' and '_', so that no wildcard, dot or space can widen the filter.
func ValidToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
