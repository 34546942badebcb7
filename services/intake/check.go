// Package intake decides whether an event may enter the hub and which lane
// it goes to: the checks (size, attributes, identity, type, schema), the
// tier's menu and the lane subject. The gateway runs them before it stores
// an event it takes over HTTP (and seals it, so the router need not check
// it again); the router runs them on each event published straight to NATS,
// as the first step of its consumer (a NATS publish is stored before anyone
// can look at it).
package intake

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/schemas"
	"github.com/crossdock/crossdock/services/accounts"
)

// MaxEventSize is the default largest event, in bytes, the hub takes.
const MaxEventSize = 1 << 20

// inputTypes are the event types each kind of sender may send; everything
// else is made by the hub.
var (
	accountTypes   = []string{bus.Type("order.placed"), bus.Type("inventory.reported"), bus.Type("rfid.observed"), bus.Type("forecast.shared")}
	warehouseTypes = []string{bus.Type("shipment.dispatched")}
)

// Checker decides whether an event may enter the hub. It is pure apart from
// reading the live account registry, and safe for concurrent use.
type Checker struct {
	reg     *accounts.Registry
	schemas *schemas.Validator
	maxSize int
	macs    *sync.Pool // HMAC-SHA256 under this process's random key (Seal)
}

// NewChecker returns a Checker; maxSize 0 means MaxEventSize.
func NewChecker(reg *accounts.Registry, v *schemas.Validator, maxSize int) *Checker {
	if maxSize <= 0 {
		maxSize = MaxEventSize
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return &Checker{reg: reg, schemas: v, maxSize: maxSize, macs: newMACs(key)}
}

// MaxSize is the largest event, in bytes, the Checker takes.
func (c *Checker) MaxSize() int { return c.maxSize }

// Check returns every problem with ev as sent by `from` (an authenticated
// identity: an API key's owner, or the account of an intake subject) in a
// message of size bytes. On success it sets the account extension: from the
// sender for an account, from the event for a warehouse (which names the
// account a shipment is for).
func (c *Checker) Check(ev *event.Event, from bus.Sender, size int) []bus.Problem {
	if size > c.maxSize {
		return []bus.Problem{{Code: bus.CodeTooLarge, Message: fmt.Sprintf("event is %d bytes; the limit is %d", size, c.maxSize)}}
	}
	if p := CheckLimits(ev); p != nil {
		return []bus.Problem{*p}
	}
	if p := c.checkSender(ev, from); p != nil {
		return []bus.Problem{*p}
	}
	var ps []bus.Problem
	if !c.schemas.Known(ev.Type()) {
		return append(ps, bus.Problem{Code: bus.CodeUnknownType, Message: fmt.Sprintf("%q is not an event type of this hub", ev.Type()), Field: "type"})
	}
	allowed, kind := accountTypes, "accounts"
	if from.Warehouse != "" {
		allowed, kind = warehouseTypes, "warehouses"
	}
	if !slices.Contains(allowed, ev.Type()) {
		return append(ps, bus.Problem{Code: bus.CodeUnknownType,
			Message: fmt.Sprintf("%s is not an event %s send; they send %s", ev.Type(), kind, strings.Join(allowed, ", ")), Field: "type"})
	}
	if ct := ev.DataContentType(); ct != event.ApplicationJSON && !strings.HasPrefix(ct, event.ApplicationJSON+";") {
		return append(ps, bus.Problem{Code: bus.CodeSchemaViolation, Message: fmt.Sprintf("datacontenttype is %q; event data must be application/json", ct), Field: "datacontenttype"})
	}
	err := c.schemas.Validate(ev.Type(), ev.Data())
	var invalid *schemas.InvalidJSONError
	var violations *schemas.ViolationError
	switch {
	case err == nil:
	case errors.As(err, &invalid):
		ps = append(ps, bus.Problem{Code: bus.CodeInvalidJSON, Message: invalid.Error(), Field: "data"})
	case errors.As(err, &violations):
		for _, v := range violations.Violations {
			field := "data"
			if v.Field != "" {
				field += "." + v.Field
			}
			ps = append(ps, bus.Problem{Code: bus.CodeSchemaViolation, Message: v.Message, Field: field})
		}
	default:
		ps = append(ps, bus.Problem{Code: bus.CodeSchemaViolation, Message: err.Error(), Field: "data"})
	}
	return ps
}

// checkSender ties the event to its authenticated sender: the sender exists,
// its account attribute and source agree with it.
func (c *Checker) checkSender(ev *event.Event, from bus.Sender) *bus.Problem {
	claimed := bus.Account(ev)
	if from.Warehouse != "" {
		if _, ok := c.reg.Warehouse(from.Warehouse); !ok {
			return &bus.Problem{Code: bus.CodeUnknownAccount, Message: fmt.Sprintf("warehouse %q is not known", from.Warehouse)}
		}
		if p := checkSource(ev.Source(), "/warehouses/", from.Warehouse); p != nil {
			return p
		}
		if claimed == "" {
			return &bus.Problem{Code: bus.CodeSchemaViolation, Message: "a warehouse event names the account it concerns in the account attribute", Field: "account"}
		}
		entry, ok := c.reg.Account(claimed)
		if !ok {
			return &bus.Problem{Code: bus.CodeUnknownAccount, Message: fmt.Sprintf("account %q is not known", claimed), Field: "account"}
		}
		if !servedBy(&entry.Account, from.Warehouse) {
			return &bus.Problem{Code: bus.CodeAccountMismatch, Message: fmt.Sprintf("warehouse %s serves no location of account %s", from.Warehouse, claimed), Field: "account"}
		}
		return nil
	}
	if _, ok := c.reg.Account(from.Account); !ok {
		return &bus.Problem{Code: bus.CodeUnknownAccount, Message: fmt.Sprintf("account %q is not known", from.Account)}
	}
	if claimed != "" && claimed != from.Account {
		return &bus.Problem{Code: bus.CodeAccountMismatch, Message: fmt.Sprintf("the event names account %q but was sent by %q", claimed, from.Account), Field: "account"}
	}
	if p := checkSource(ev.Source(), "/accounts/", from.Account); p != nil {
		return p
	}
	ev.SetExtension(bus.ExtAccount, from.Account)
	return nil
}

// checkSource accepts source "<prefix><id>" and sub-sources below it
// ("/accounts/acme/readers/dock-1").
func checkSource(source, prefix, id string) *bus.Problem {
	want := prefix + id
	if source == want || strings.HasPrefix(source, want+"/") {
		return nil
	}
	if strings.HasPrefix(source, prefix) {
		return &bus.Problem{Code: bus.CodeAccountMismatch, Message: fmt.Sprintf("source %q is not the sender's (%s)", source, want), Field: "source"}
	}
	return &bus.Problem{Code: bus.CodeSchemaViolation, Message: fmt.Sprintf("source %q: want %s or a path below it", source, want), Field: "source"}
}

func servedBy(a *accounts.Account, warehouse string) bool {
	for _, l := range a.Locations {
		if l.Warehouse == warehouse {
			return true
		}
	}
	return false
}
