package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/crossdock/crossdock/bus"
	"github.com/crossdock/crossdock/services/rfid"
	"github.com/crossdock/crossdock/services/vmi"
	"github.com/crossdock/crossdock/web"
)

// inventoryData is the inventory and tags page's.
type inventoryData struct {
	VMI       bool // the tier has VMI
	RFID      bool // the tier has RFID
	Positions []vmi.View
	EPC       string
	Track     *rfid.EPCState
	Errors    web.Errors
}

// inventory shows the account's VMI positions per location (what GET
// /v1/inventory/{gln}/{gtin} shows, for every position) and looks an EPC
// up (GET /v1/rfid/epcs/{epc}), for tiers that have them.
func (p *Portal) inventory(w http.ResponseWriter, r *http.Request) {
	e, ok := p.entry(w, r)
	if !ok {
		return
	}
	d := inventoryData{VMI: p.cfg.VMI != nil && e.Policy.VMI != "off", RFID: p.cfg.RFID != nil && e.Policy.RFID == "on"}
	if !d.VMI && !d.RFID {
		p.refuse(w, r, http.StatusForbidden, bus.CodeNotInTierMenu+": the "+string(e.Account.Tier)+" tier has neither vendor-managed inventory nor RFID tracking")
		return
	}
	status := http.StatusOK
	if d.VMI {
		var err error
		if d.Positions, err = p.cfg.VMI.Positions(r.Context(), e); err != nil {
			p.unavailable(w, r, "positions", err)
			return
		}
	}
	if d.EPC = strings.TrimSpace(r.URL.Query().Get("epc")); d.RFID && d.EPC != "" {
		st, err := p.cfg.RFID.EPC(r.Context(), e.Account.ID, d.EPC)
		var bad *rfid.BadEPCError
		switch {
		case errors.As(err, &bad):
			status = http.StatusBadRequest
			d.Errors = web.Errors{{Code: bus.CodeBadEPC, Message: bad.Error(), Field: "epc"}}
		case err != nil:
			p.unavailable(w, r, "RFID tracks", err)
			return
		case st == nil:
			status = http.StatusNotFound
			d.Errors = web.Errors{{Code: bus.CodeUnknownEPC, Message: "no reads of EPC " + d.EPC, Field: "epc"}}
		default:
			d.Track = st
		}
	}
	p.render(w, r, status, "inventory", "Inventory and tags", Base+"/inventory", d)
}
