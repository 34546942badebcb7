package adaptertest

import (
	"fmt"
	"strings"
	"time"

	"github.com/crossdock/crossdock/gs1"
)

// CSVOrders is a CSV of orders of lines rows each, as an account's
// spreadsheet export sends them: po numbers prefix-000000 on, every line
// of GTIN 00614141123452 to shipTo on requested (YYYY-MM-DD). The
// benchmarks of large partner files use it.
func CSVOrders(prefix string, orders, lines int, shipTo, requested string) []byte {
	var b []byte
	b = append(b, "po_number,ship_to,requested_date,gtin,quantity,unit\n"...)
	for o := 0; o < orders; o++ {
		for l := 0; l < lines; l++ {
			b = fmt.Appendf(b, "%s-%06d,%s,%s,00614141123452,%d,EA\n", prefix, o, shipTo, requested, l+1)
		}
	}
	return b
}

// X12Inventory is an X12 852 interchange of about segments segments: one
// transaction set per week from firstWeek of location's product activity,
// each of items LIN with their on-hand and sold quantities (155 segments a
// set with 50 items). Each set is a distinct report (location and period).
func X12Inventory(segments, items int, location string, firstWeek time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*%10s*00*%10s*ZZ*%-15s*ZZ*%-15s*261124*0900*U*00401*000000001*0*P*>~\nGS*PD*ACME*CROSSDOCK*20261124*0900*1*X*004010~\n", "", "", "ACME", "CROSSDOCK")
	perSet := 3*items + 5
	sets := segments / perSet
	for s := range sets {
		from := firstWeek.AddDate(0, 0, 7*s)
		fmt.Fprintf(&b, "ST*852*%04d~\nXQ*H*%s*%s~\nN1*ST*STORE*UL*%s~\n", s+1, from.Format("20060102"), from.AddDate(0, 0, 6).Format("20060102"), location)
		for i := range items {
			fmt.Fprintf(&b, "LIN*%d*EN*%s~\nZA*QA*%d*EA~\nZA*QS*%d*EA~\n", i+1, gs1.Complete(fmt.Sprintf("400041%06d", i)), 100+i, i%7)
		}
		fmt.Fprintf(&b, "CTT*%d~\nSE*%d*%04d~\n", items, perSet, s+1)
	}
	fmt.Fprintf(&b, "GE*%d*1~\nIEA*1*000000001~\n", sets)
	return []byte(b.String())
}
