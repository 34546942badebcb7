package epc

import "github.com/crossdock/crossdock/gs1"

// DigitalLink is the canonical GS1 Digital Link URI of the EPC
// (https://id.gs1.org/…), the form of identifiers the CBV 2.0 event hash
// (and EPCIS 2.0 JSON, where either is allowed) uses: SGTIN →
// /01/<GTIN-14>/21/<serial>, SSCC → /00/<SSCC-18>, SGLN → /414/<GLN> with
// /254/<extension> unless the extension is 0, GRAI → /8003/0<GRAI-13><serial>,
// GIAI → /8004/<company prefix><asset reference>.
func (e EPC) DigitalLink() string {
	const base = "https://id.gs1.org/"
	switch e.Scheme {
	case SGTIN96:
		return base + "01/" + e.GTIN() + "/21/" + e.Serial
	case SSCC96:
		if e.Reference == "" {
			return ""
		}
		body := e.Reference[:1] + e.CompanyPrefix + e.Reference[1:]
		return base + "00/" + gs1.Complete(body)
	case SGLN96:
		body := e.CompanyPrefix + e.Reference
		s := base + "414/" + gs1.Complete(body)
		if e.Serial != "0" {
			s += "/254/" + e.Serial
		}
		return s
	case GRAI96:
		body := "0" + e.CompanyPrefix + e.Reference
		return base + "8003/" + gs1.Complete(body) + e.Serial
	case GIAI96:
		return base + "8004/" + e.CompanyPrefix + e.Reference
	}
	return ""
}
