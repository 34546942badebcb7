package hub

import (
	"context"

	"github.com/crossdock/crossdock/services/orders"
)

// tagReads gives order timelines the RFID observations of a shipment's tags
// from the rfid service's tracks (none when rfid is not served here).
func (h *Hub) tagReads(ctx context.Context, account, uri string) ([]orders.TagRead, error) {
	if h.rfid == nil {
		return nil, nil
	}
	obs, err := h.rfid.Observations(ctx, account, uri)
	if err != nil {
		return nil, err
	}
	out := make([]orders.TagRead, len(obs))
	for i, o := range obs {
		out[i] = orders.TagRead{EPC: uri, ReadPoint: o.ReadPoint, Reader: o.Reader, Time: o.Time}
	}
	return out, nil
}
