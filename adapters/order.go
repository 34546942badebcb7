package adapters

// Order is the data of the crossdock.order.placed.v1 events that order
// formats (X12 850, CSV, cXML OrderRequest) make: one shape for every
// adapter, the one schemas/crossdock.order.placed.v1.json checks.
type Order struct {
	PONumber      string      `json:"po_number"`
	ShipTo        string      `json:"ship_to"`
	RequestedDate string      `json:"requested_date"`
	Lines         []OrderLine `json:"lines"`
	Pickup        string      `json:"pickup,omitempty"`
}

// OrderLine is one line of an Order.
type OrderLine struct {
	Line     int     `json:"line"`
	GTIN     string  `json:"gtin"`
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"`
}

// Units is the order's total quantity, the measure of minimum-order rules.
func (o *Order) Units() float64 {
	var n float64
	for _, l := range o.Lines {
		n += l.Quantity
	}
	return n
}
