// Package accounts is the hub's account registry: who may send events (API
// keys, for HTTP and NATS), to which locations, and under which tier policy.
//
// Operators describe accounts and warehouses in an accounts file and tiers in
// a tier file (CONTRACT.md section 4). The registry mirrors the accounts file
// into the XD_ACCOUNTS KV bucket and keeps an immutable in-memory snapshot of
// it in every process, so that the gateway (authentication), the router
// (tier → lane) and the services (effective policy) answer per event without
// I/O, and a tier change made by the admin API or a reload reaches every
// process for the next event.
package accounts
