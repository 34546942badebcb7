package rfid

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crossdock/crossdock/services/accounts"
	"github.com/crossdock/crossdock/services/rfid/epc"
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
// observations: eventTime is the first new observation, in UTC, with the
// time zone offset the reader wrote; eventID is the CBV 2.0 event hash of
// the event (HashID), so a redelivered batch, which has the same content,
// yields the same id.
func NewObjectEvent(first time.Time, epcs []string, bizStep, disposition, readPoint string) ObjectEvent {
	if bizStep == "" {
		bizStep = DefaultBizStep
	}
	ev := ObjectEvent{
		Context:             []string{EPCISContext},
		Type:                "ObjectEvent",
		EventTime:           first.UTC().Format(eventTimeLayout),
		EventTimeZoneOffset: first.Format("-07:00"),
		EPCList:             epcs,
		Action:              "OBSERVE",
		BizStep:             bizStep,
		Disposition:         disposition,
		ReadPoint:           &IDRef{ID: LocationURI(readPoint)},
		BizLocation:         &IDRef{ID: LocationURI(BizLocation(readPoint))},
	}
	ev.EventID = HashID(&ev)
	return ev
}

// HashID is the EPCIS event hash ID of CBV 2.0 (ni:///sha-256;<hex>?ver=CBV2.0)
// for the fields NewObjectEvent fills: the SHA-256 of the canonical pre-hash
// string, which names each field and writes identifiers as GS1 Digital Link
// URIs and vocabulary as CBV web URIs, so that the same event has the same id
// whatever syntax carried it. Checked against the reference implementation's
// examples (github.com/RalphTro/epcis-event-hash-generator).
func HashID(ev *ObjectEvent) string {
	sum := sha256.Sum256([]byte(preHash(ev)))
	return "ni:///sha-256;" + hex.EncodeToString(sum[:]) + "?ver=CBV2.0"
}

// preHash is the CBV 2.0 pre-hash string of ev: the fields in the canonical
// order, list items sorted, no separators.
func preHash(ev *ObjectEvent) string {
	var b strings.Builder
	b.WriteString("eventType=" + ev.Type)
	b.WriteString("eventTime=" + ev.EventTime)
	b.WriteString("eventTimeZoneOffset=" + ev.EventTimeZoneOffset)
	if len(ev.EPCList) > 0 {
		items := make([]string, len(ev.EPCList))
		for i, uri := range ev.EPCList {
			items[i] = "epc=" + epcDigitalLink(uri)
		}
		slices.Sort(items)
		b.WriteString("epcList" + strings.Join(items, ""))
	}
	b.WriteString("action=" + ev.Action)
	if ev.BizStep != "" {
		b.WriteString("bizStep=" + cbvURI(ev.BizStep, "bizstep", "BizStep-"))
	}
	if ev.Disposition != "" {
		b.WriteString("disposition=" + cbvURI(ev.Disposition, "disp", "Disp-"))
	}
	if ev.ReadPoint != nil {
		b.WriteString("readPointid=" + locationDigitalLink(ev.ReadPoint.ID))
	}
	if ev.BizLocation != nil {
		b.WriteString("bizLocationid=" + locationDigitalLink(ev.BizLocation.ID))
	}
	return b.String()
}

// epcDigitalLink writes a pure identity URI as its GS1 Digital Link, or
// leaves a URI it cannot convert as it is.
func epcDigitalLink(uri string) string {
	e, err := epc.Parse(uri)
	if err != nil {
		return uri
	}
	if dl := e.DigitalLink(); dl != "" {
		return dl
	}
	return uri
}

// locationDigitalLink writes an SGLN URI (whose extension may be any
// characters, not only SGLN-96's integer) as its GS1 Digital Link.
func locationDigitalLink(uri string) string {
	m := sglnParts.FindStringSubmatch(uri)
	if m == nil {
		return uri
	}
	gln, err := accounts.ReadPointGLN(uri)
	if err != nil {
		return uri
	}
	ext := strings.TrimPrefix(uri, m[1])
	if ext == "0" {
		return "https://id.gs1.org/414/" + gln
	}
	if u, err := url.PathUnescape(ext); err == nil {
		ext = u
	}
	return "https://id.gs1.org/414/" + gln + "/254/" + dlEscape(ext)
}

// dlEscape percent-encodes a GS1 Digital Link path value: everything but
// RFC 3986's unreserved characters.
func dlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// cbvURI writes a CBV value as its web URI: a bare word (observing) or a
// URN (urn:epcglobal:cbv:bizstep:observing) becomes
// https://ref.gs1.org/cbv/BizStep-observing; other URIs stay as they are.
func cbvURI(v, urnKind, prefix string) string {
	if w, ok := strings.CutPrefix(v, "urn:epcglobal:cbv:"+urnKind+":"); ok {
		return "https://ref.gs1.org/cbv/" + prefix + w
	}
	if strings.Contains(v, ":") {
		return v
	}
	return "https://ref.gs1.org/cbv/" + prefix + v
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
