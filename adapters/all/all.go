// Package all registers every adapter of this tree: the main imports it for
// its side effect, as Caddy's modules/standard does. A new adapter adds one
// line here.
package all

import (
	_ "github.com/crossdock/crossdock/adapters/csv"  // orders as CSV
	_ "github.com/crossdock/crossdock/adapters/cxml" // cXML OrderRequest
	_ "github.com/crossdock/crossdock/adapters/x12"  // ANSI X12 EDI
)
