package rfid

import (
	"regexp"
	"time"
)

// EPCISContext is the JSON-LD context of GS1 EPCIS 2.0 JSON documents and
// events (EPCIS 2.0 §12.2, https://ref.gs1.org/standards/epcis/).
const EPCISContext = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"

// DefaultBizStep is the CBV business step of reads from readers that are not
// configured: the issue asks for "observing".
const DefaultBizStep = "observing"

// ObjectEvent is a GS1 EPCIS 2.0 ObjectEvent in its JSON/JSON-LD binding,
// with the fields the rfid service fills. bizStep and disposition are CBV
// bare words (the context maps them to https://ref.gs1.org/cbv/ URIs) or
// URIs; readPoint and bizLocation are objects with an id, as EPCIS 2.0 JSON
// writes them.
type ObjectEvent struct {
	Context             []string `json:"@context"`
	Type                string   `json:"type"`
	EventID             string   `json:"eventID"`
	EventTime           string   `json:"eventTime"`
	EventTimeZoneOffset string   `json:"eventTimeZoneOffset"`
	RecordTime          string   `json:"recordTime,omitempty"`
	EPCList             []string `json:"epcList"`
	Action              string   `json:"action"`
	BizStep             string   `json:"bizStep,omitempty"`
	Disposition         string   `json:"disposition,omitempty"`
	ReadPoint           *IDRef   `json:"readPoint,omitempty"`
	BizLocation         *IDRef   `json:"bizLocation,omitempty"`
}

// IDRef is an EPCIS 2.0 JSON location reference ({"id": "<uri>"}).
type IDRef struct {
	ID string `json:"id"`
}

// eventTimeLayout writes eventTime in UTC with milliseconds, as the EPCIS
// 2.0 examples do; the offset where it happened goes in eventTimeZoneOffset.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// NewObjectEvent makes the ObjectEvent (action OBSERVE) for one batch's new
// observations: eventTime is the first new observation, in the time zone
// offset the reader wrote; eventID is a urn:uuid derived from the batch's id,
// so that a redelivered batch yields the same event.
func NewObjectEvent(eventID string, first time.Time, recorded time.Time, epcs []string, bizStep, disposition, readPoint, bizLocation string) ObjectEvent {
	if bizStep == "" {
		bizStep = DefaultBizStep
	}
	ev := ObjectEvent{
		Context:             []string{EPCISContext},
		Type:                "ObjectEvent",
		EventID:             "urn:uuid:" + eventID,
		EventTime:           first.UTC().Format(eventTimeLayout),
		EventTimeZoneOffset: first.Format("-07:00"),
		EPCList:             epcs,
		Action:              "OBSERVE",
		BizStep:             bizStep,
		Disposition:         disposition,
		ReadPoint:           &IDRef{ID: LocationURI(readPoint)},
		BizLocation:         &IDRef{ID: LocationURI(BizLocation(readPoint))},
	}
	if !recorded.IsZero() {
		ev.RecordTime = recorded.UTC().Format(eventTimeLayout)
	}
	return ev
}

var sglnParts = regexp.MustCompile(`^(urn:epc:id:sgln:[0-9]+\.[0-9]*\.)[!-~]+$`)

// BizLocation is the business location of a read point: an SGLN with its
// extension replaced by 0 (the location itself, not the dock or shelf in it),
// or the GLN itself.
func BizLocation(readPoint string) string {
	if m := sglnParts.FindStringSubmatch(readPoint); m != nil {
		return m[1] + "0"
	}
	return readPoint
}

// LocationURI writes a read point as the URI EPCIS needs: SGLN URIs as they
// are, a bare GLN as its GS1 Digital Link URI (https://id.gs1.org/414/<gln>),
// which EPCIS 2.0 accepts for locations. A GLN cannot be turned into an SGLN
// URI without knowing the length of its GS1 company prefix.
func LocationURI(readPoint string) string {
	if len(readPoint) == 13 {
		return "https://id.gs1.org/414/" + readPoint
	}
	return readPoint
}
