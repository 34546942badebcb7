package bus

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
	// CodeRequestTimeout: an HTTP request body did not arrive in time.
	CodeRequestTimeout = "request_timeout"
	// CodeUnknownReadPoint: an RFID read point that is not one of the
	// sending account's locations (or not its configured reader's).
	CodeUnknownReadPoint = "unknown_read_point"
	// CodeUnknownEPC: GET /v1/rfid/epcs/{epc} for an EPC the account never read.
	CodeUnknownEPC = "unknown_epc"
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
	CodeUnknownReplenishment = "unknown_replenishment"
	CodeUnknownPosition      = "unknown_position"
)

// Codes of shared planning (docs/planning.md).
const (
	// CodeWeekPast: a forecast bucket for a week that has already begun
	// before the current one (forecasts are for the current and coming weeks).
	CodeWeekPast = "week_past"
	// CodeUnknownItem: a forecast for an item (GTIN) that is not the
	// account's: neither in its VMI agreement nor ever reported by it.
	CodeUnknownItem = "unknown_item"
)
