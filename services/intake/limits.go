package intake

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/bus"
)

// Limits on a CloudEvent's attributes, enforced at the door on HTTP and NATS
// alike (docs/security.md). They keep every event, its rejection and its DLQ
// letter well inside JetStream's 64 KiB header limit and bound what one
// account's ids can cost in memory, disk and logs.
const (
	// MaxIDBytes bounds the id attribute.
	MaxIDBytes = 256
	// MaxAttributeBytes bounds source, type, subject and each extension value.
	MaxAttributeBytes = 1024
	// MaxAttributesBytes bounds all attributes together, names and values.
	MaxAttributesBytes = 8192
)

// CheckLimits refuses an event whose attributes are over the limits above,
// or whose id is not valid UTF-8 (CloudEvents strings are Unicode; a rewritten id would store the event under another id than the
// one answered). Its messages give sizes, never the value itself, which may
// be the attack.
func CheckLimits(ev *event.Event) *bus.Problem {
	id := ev.ID()
	if len(id) > MaxIDBytes {
		return TooLarge("id", len(id), MaxIDBytes)
	}
	if !utf8.ValidString(id) {
		return &bus.Problem{Code: bus.CodeSchemaViolation, Message: "id is not valid UTF-8", Field: "id"}
	}
	attrs := map[string]string{"source": ev.Source(), "type": ev.Type(), "subject": ev.Subject(),
		"dataschema": ev.DataSchema(), "datacontenttype": ev.DataContentType()}
	if c, ok := ev.Context.(*event.EventContextV1); ok {
		for k, v := range c.Extensions {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			attrs[k] = s
		}
	}
	total := len("specversion") + len(ev.SpecVersion()) + len("id") + len(id)
	if !ev.Time().IsZero() {
		total += len("time") + len("2006-01-02T15:04:05.999999999Z07:00")
	}
	largest := ""
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[name]
		if len(v) > MaxAttributeBytes {
			return TooLarge(name, len(v), MaxAttributeBytes)
		}
		total += len(name) + len(v)
		if largest == "" || len(v) > len(attrs[largest]) {
			largest = name
		}
	}
	if total > MaxAttributesBytes {
		return &bus.Problem{Code: bus.CodeAttributeTooLarge, Field: largest,
			Message: fmt.Sprintf("the attributes together are %d bytes; the limit is %d (the largest is %s)", total, MaxAttributesBytes, largest)}
	}
	return nil
}

// TooLarge is the attribute_too_large problem of an attribute of size bytes
// over its limit.
func TooLarge(attr string, size, limit int) *bus.Problem {
	return &bus.Problem{Code: bus.CodeAttributeTooLarge, Field: attr,
		Message: fmt.Sprintf("%s is %d bytes; the limit is %d", attr, size, limit)}
}
