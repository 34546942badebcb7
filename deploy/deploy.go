// Package deploy holds the files a deployment starts from, and embeds the
// example accounts file so that the binary runs anywhere: without
// --accounts and without the file beside it, crossdock starts with this
// copy (cmd/crossdock writes it to its data directory, where it can be
// edited and re-read on SIGHUP).
package deploy

import _ "embed"

// AccountsExample is deploy/accounts.example.yaml: one account per tier, two
// warehouses, and development API keys written in its comments.
//
//go:embed accounts.example.yaml
var AccountsExample []byte
