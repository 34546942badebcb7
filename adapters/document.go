package adapters

import (
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/crossdock/crossdock/envelope"
	"github.com/crossdock/crossdock/schemas"
)

// TypeDocument is the event type of a document written in a partner format
// (an X12 855, 856 or 997). Its data is the document itself, not JSON: the
// datacontenttype names the format (application/EDI-X12), so that delivery
// in the CloudEvents HTTP binary mode posts the bare document a partner's
// EDI system takes. The ediformat extension names the format and edifor what
// the document renders: the name of the event it encodes (order.accepted),
// or "receipt" for the format's acknowledgment of a file (an X12 997).
var TypeDocument = schemas.EDIDocument

// Extension attributes of a document event.
const (
	ExtFormat = "ediformat" // the adapter's format name, e.g. x12
	ExtFor    = "edifor"    // what it renders: an event name, or "receipt"
)

// ForReceipt is the edifor of a format's acknowledgment of a file.
const ForReceipt = "receipt"

// NewDocument wraps a document the hub wrote for cause's account as an
// event answering cause: its id derived from the cause's, the format and
// what it renders, so a redelivered cause publishes it once.
func NewDocument(cause *event.Event, source, format, renders, contentType string, doc []byte) (*event.Event, error) {
	ev, err := envelope.New(cause, TypeDocument, format+"/"+renders, source, struct{}{})
	if err != nil {
		return nil, err
	}
	if err := ev.SetData(contentType, doc); err != nil {
		return nil, fmt.Errorf("%s document for %s: %w", format, renders, err)
	}
	ev.SetExtension(ExtFormat, format)
	ev.SetExtension(ExtFor, renders)
	return ev, nil
}

// ContentType is the media type a's documents are written as: the first it
// lists.
func ContentType(a Adapter) string {
	if cts := a.Info().ContentTypes; len(cts) > 0 {
		return cts[0]
	}
	return "application/octet-stream"
}
