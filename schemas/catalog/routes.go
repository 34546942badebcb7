package catalog

// A Route is one subject pattern of the hub's NATS scheme (CONTRACT.md
// section 3): where it is stored, who publishes on it, who consumes it, and
// which events travel on it. The list is written once, here; the AsyncAPI
// document, the console's catalogue browser and docs/console.md are made from
// it.
type Route struct {
	// Key names the route in the document's channel ids: "intake" makes
	// "intake.order.placed".
	Key string `json:"key"`
	// Pattern is the subject with its parameters in braces, without the
	// event name, which follows it: "xd.in.{account}".
	Pattern string `json:"pattern"`
	// Stream is the JetStream stream that stores it.
	Stream string `json:"stream"`
	// Action is what the hub does on it, in AsyncAPI's words: "receive"
	// (customers and warehouses send, the hub takes) or "send".
	Action string `json:"action"`
	// Description says what the route is for, in a sentence.
	Description string `json:"description"`
	// Publishers and Consumers say who uses every event of the route.
	Publishers []string `json:"publishers"`
	Consumers  []string `json:"consumers"`
	// Events are the event names carried (bus.Name of the type); a route
	// that carries something else (files, dead letters) names its Payload.
	Events []string `json:"events,omitempty"`
	// Payload, when set, is the one message of a route that carries no
	// CloudEvent type of its own: "file" or "dead_letter". Its last
	// parameter then replaces the event name.
	Payload string `json:"payload,omitempty"`
	// Makers and Takers name, for some events, the services that publish
	// or consume that event in particular (added to Publishers, Consumers).
	Makers map[string][]string `json:"makers,omitempty"`
	Takers map[string][]string `json:"takers,omitempty"`
}

// Routes are the subject patterns of CONTRACT.md section 3, with the
// partners' file subjects (xd.raw) beside them.
var Routes = []Route{
	{
		Key: "intake", Pattern: "xd.in.{account}", Stream: "XD_IN", Action: "receive",
		Description: "Events from customers' ERPs and RFID readers, as sent.",
		Publishers:  []string{"customer ERPs and readers (NATS user <account>)", "gateway (POST /v1/events, POST /v1/ingest)"},
		Consumers:   []string{"router"},
		Events:      []string{"order.placed", "inventory.reported", "rfid.observed", "forecast.shared"},
	},
	{
		Key: "intake-wh", Pattern: "xd.in.wh.{warehouse}", Stream: "XD_IN", Action: "receive",
		Description: "Events from warehouse systems, as sent.",
		Publishers:  []string{"warehouse systems (NATS user <warehouse>)", "gateway (POST /v1/events, POST /v1/ingest)"},
		Consumers:   []string{"router"},
		Events:      []string{"shipment.dispatched"},
	},
	{
		Key: "raw", Pattern: "xd.raw.{account}.{format}", Stream: "XD_RAW", Action: "receive",
		Description: "Partners' files (X12, CSV, …) as sent, before an adapter turns them into events on xd.in.",
		Publishers:  []string{"customer ERPs (NATS user <account>)"},
		Consumers:   []string{"gateway (adapters)"},
		Payload:     "file",
	},
	{
		Key: "raw-wh", Pattern: "xd.raw.wh.{warehouse}.{format}", Stream: "XD_RAW", Action: "receive",
		Description: "Warehouses' files as sent; the Crossdock-Account header names the account a file concerns.",
		Publishers:  []string{"warehouse systems (NATS user <warehouse>)"},
		Consumers:   []string{"gateway (adapters)"},
		Payload:     "file",
	},
	{
		Key: "lanes", Pattern: "xd.routed.{tier}.{account}", Stream: "XD_ROUTED", Action: "send",
		Description: "Checked events in their account's tier lane; only the hub reads and writes them.",
		Publishers:  []string{"router", "gateway (HTTP intake, already checked)"},
		Consumers:   []string{},
		Events:      []string{"order.placed", "inventory.reported", "rfid.observed", "shipment.dispatched", "forecast.shared"},
		Takers: map[string][]string{
			"order.placed": {"orders"}, "shipment.dispatched": {"orders", "vmi"},
			"inventory.reported": {"vmi", "planning"}, "rfid.observed": {"rfid"}, "forecast.shared": {"planning"},
		},
	},
	{
		Key: "outbound", Pattern: "xd.out.{account}", Stream: "XD_OUT", Action: "send",
		Description: "What the hub answers and tells an account.",
		Publishers:  []string{},
		Consumers:   []string{"customer ERPs (durable consumers or core subscriptions)", "delivery (webhooks)"},
		Events: []string{"order.accepted", "order.rejected", "order.held", "replenishment.requested", "shipment.dispatched",
			"epcis.captured", "rfid.location.changed", "event.rejected", "account.tier.changed", "forecast.exception"},
		Makers: map[string][]string{
			"order.accepted": {"orders"}, "order.rejected": {"orders"}, "order.held": {"orders"},
			"replenishment.requested": {"vmi"}, "shipment.dispatched": {"orders"},
			"epcis.captured": {"rfid"}, "rfid.location.changed": {"rfid"},
			"event.rejected":       {"gateway", "router", "orders", "vmi", "rfid", "planning"},
			"account.tier.changed": {"accounts registry (admin API, accounts file reload)"},
			"forecast.exception":   {"planning"},
		},
		Takers: map[string][]string{
			"order.accepted": {"edi (855)"}, "order.rejected": {"edi (855)"}, "shipment.dispatched": {"edi (856)"},
		},
	},
	{
		Key: "warehouse", Pattern: "xd.wh.{warehouse}", Stream: "XD_OUT", Action: "send",
		Description: "Work the hub gives a warehouse.",
		Publishers:  []string{},
		Consumers:   []string{"warehouse systems", "delivery (webhooks)"},
		Events:      []string{"fulfillment.requested", "replenishment.requested", "event.rejected", "forecast.shared", "forecast.exception"},
		Makers: map[string][]string{
			"fulfillment.requested": {"orders"}, "replenishment.requested": {"vmi"},
			"forecast.shared": {"planning"}, "forecast.exception": {"planning"},
			"event.rejected": {"gateway", "router", "orders", "vmi"},
		},
	},
	{
		Key: "dlq", Pattern: "xd.dlq.{account}.{code}", Stream: "XD_DLQ", Action: "send",
		Description: "What could not be processed: the original bytes and headers, with Crossdock-Dlq-* headers saying why (code, errors, subject, attempts). Warehouses' dead letters are under xd.dlq.wh.<warehouse>.<code>.",
		Publishers:  []string{"any service"},
		Consumers:   []string{"operators (crossdock dlq, /v1/admin/dlq, /console)"},
		Payload:     "dead_letter",
	},
}

// params describes the subject parameters.
var params = map[string]string{
	"account":   "The account id ([a-z0-9-]{1,32}; wh is reserved).",
	"warehouse": "The warehouse id ([a-z0-9-]{1,32}).",
	"tier":      "The account's tier: strategic, integrated, emerging or stable.",
	"format":    "An adapter's format name (GET /v1/adapters): x12, csv, …",
	"code":      "The stable error code (CONTRACT.md section 2), such as schema_violation.",
}

// Who returns the publishers and consumers of one event on r.
func (r Route) Who(name string) (publishers, consumers []string) {
	publishers = append(append([]string{}, r.Publishers...), r.Makers[name]...)
	consumers = append(append([]string{}, r.Consumers...), r.Takers[name]...)
	return publishers, consumers
}
