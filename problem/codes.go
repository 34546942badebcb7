package problem

import (
	"errors"
	"strings"
)

// Stable error codes (CONTRACT.md section 2) that reach customers in
// reasons[] and errors[] and name DLQ subjects.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeSchemaViolation    = "schema_violation"
	CodeUnknownType        = "unknown_type"
	CodeUnknownAccount     = "unknown_account"
	CodeAccountMismatch    = "account_mismatch"
	CodeDuplicate          = "duplicate"
	CodeTooLarge           = "too_large"
	CodeNotInTierMenu      = "not_in_tier_menu"
	CodeBelowMinimumOrder  = "below_minimum_order"
	CodeShipToNotDC        = "ship_to_not_dc"
	CodeUnknownShipTo      = "unknown_ship_to"
	CodeOutsideOrderWindow = "outside_order_window"
	CodeBadEPC             = "bad_epc"
	CodeParseError         = "parse_error"
	// CodeAttributeTooLarge: an id, source, type, subject or extension over
	// its limit (services/gateway/limits.go); the field names the attribute.
	CodeAttributeTooLarge = "attribute_too_large"
	// CodeRateLimited: the account is over its tier's quota (policy key
	// quota); retry after the time the answer gives.
	CodeRateLimited = "rate_limited"
	// Codes the hub adds to the contract's list.
	CodeUnauthorized     = "unauthorized"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeUnknownOrder     = "unknown_order"
	CodeProcessingFailed = "processing_failed"
	// CodeRequestedDatePast: an order whose requested_date is before the
	// day (UTC) the hub received it.
	CodeRequestedDatePast = "requested_date_past"
	// CodeRequestTimeout: an HTTP request body did not arrive in time.
	CodeRequestTimeout = "request_timeout"
	// CodeUnknownReadPoint: an RFID read point that is not one of the
	// sending account's locations (or not its configured reader's).
	CodeUnknownReadPoint = "unknown_read_point"
	// CodeUnknownEPC: GET /v1/rfid/epcs/{epc} for an EPC the account never read.
	CodeUnknownEPC = "unknown_epc"
	// CodeStorageFull: the stream that would store an input is at its
	// limit (--stream-max-bytes) and refuses new messages; retry once its
	// oldest messages age out or the operator raises the limit.
	CodeStorageFull = "storage_full"
)

// CodeDeliveryFailed names a dead letter the delivery service made: a webhook
// refused an event, or stayed unreachable through every retry.
const CodeDeliveryFailed = "delivery_failed"

// Problem is one reason an input was refused: a stable code, a sentence for
// a person, and the field, line or segment that caused it.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Rejection is a permanent error: the input is wrong and retrying it cannot
// help. The consume loop answers the sender, dead-letters the original and
// never redelivers it.
type Rejection struct {
	Problems []Problem
}

// Reject returns a Rejection with one problem.
func Reject(code, message, field string) *Rejection {
	return &Rejection{Problems: []Problem{{Code: code, Message: message, Field: field}}}
}

func (r *Rejection) Error() string {
	parts := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		parts[i] = p.Code + ": " + p.Message
		if p.Field != "" {
			parts[i] += " (" + p.Field + ")"
		}
	}
	return "rejected: " + strings.Join(parts, "; ")
}

// Code is the first problem's code, the one that names the DLQ subject.
func (r *Rejection) Code() string {
	if len(r.Problems) == 0 {
		return CodeProcessingFailed
	}
	return r.Problems[0].Code
}

// AsRejection reports whether err is (or wraps) a Rejection.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

// Codes of the VMI service.
const (
	// CodeUnknownReplenishment: a shipment names a replenishment_id the hub
	// never requested for the account.
	CodeUnknownReplenishment = "unknown_replenishment"
	// CodeUnknownPosition: GET /v1/inventory/{gln}/{gtin} for a position the
	// account does not have.
	CodeUnknownPosition = "unknown_position"
)

// Codes of the HTTP API's own answers (not events): what an endpoint says
// when it is not there or cannot act.
const (
	// CodeNotFound: no such endpoint, admin endpoints switched off (no admin
	// token), or no such entry (a DLQ sequence).
	CodeNotFound = "not_found"
	// CodeNotRunning: the endpoint needs a service this process does not run.
	CodeNotRunning = "not_running"
	// CodeNotBatched: a digest was asked for an account without batched
	// webhook delivery.
	CodeNotBatched = "not_batched"
	// CodeDigestBusy: another process holds the account's digest.
	CodeDigestBusy = "digest_busy"
	// CodeNoWebhook: a replay or webhook redrive for an account or warehouse
	// without a webhook.
	CodeNoWebhook = "no_webhook"
	// CodeTrimmed: a redrive of a dead letter whose headers or body were cut
	// to fit the DLQ: it is not the original any more, kept for inspection.
	CodeTrimmed = "trimmed"
)
