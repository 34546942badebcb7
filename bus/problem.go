package bus

import "github.com/crossdock/crossdock/problem"

// The names below are kept for compatibility: problems, rejections and their
// codes belong to package problem, the leaf that adapters and services import
// without linking NATS. New code should use problem directly.

// Problem is problem.Problem, kept for compatibility.
type Problem = problem.Problem

// Rejection is problem.Rejection, kept for compatibility.
type Rejection = problem.Rejection

// Reject is problem.Reject, kept for compatibility.
func Reject(code, message, field string) *Rejection { return problem.Reject(code, message, field) }

// AsRejection is problem.AsRejection, kept for compatibility.
func AsRejection(err error) (*Rejection, bool) { return problem.AsRejection(err) }

// The stable error codes, kept for compatibility: see package problem.
const (
	CodeInvalidJSON          = problem.CodeInvalidJSON
	CodeSchemaViolation      = problem.CodeSchemaViolation
	CodeUnknownType          = problem.CodeUnknownType
	CodeUnknownAccount       = problem.CodeUnknownAccount
	CodeAccountMismatch      = problem.CodeAccountMismatch
	CodeDuplicate            = problem.CodeDuplicate
	CodeTooLarge             = problem.CodeTooLarge
	CodeNotInTierMenu        = problem.CodeNotInTierMenu
	CodeBelowMinimumOrder    = problem.CodeBelowMinimumOrder
	CodeShipToNotDC          = problem.CodeShipToNotDC
	CodeUnknownShipTo        = problem.CodeUnknownShipTo
	CodeOutsideOrderWindow   = problem.CodeOutsideOrderWindow
	CodeBadEPC               = problem.CodeBadEPC
	CodeParseError           = problem.CodeParseError
	CodeAttributeTooLarge    = problem.CodeAttributeTooLarge
	CodeRateLimited          = problem.CodeRateLimited
	CodeRequestTimeout       = problem.CodeRequestTimeout
	CodeUnauthorized         = problem.CodeUnauthorized
	CodeUnsupportedMedia     = problem.CodeUnsupportedMedia
	CodeUnknownOrder         = problem.CodeUnknownOrder
	CodeProcessingFailed     = problem.CodeProcessingFailed
	CodeRequestedDatePast    = problem.CodeRequestedDatePast
	CodeUnknownReadPoint     = problem.CodeUnknownReadPoint
	CodeUnknownEPC           = problem.CodeUnknownEPC
	CodeUnknownReplenishment = problem.CodeUnknownReplenishment
	CodeUnknownPosition      = problem.CodeUnknownPosition
	CodeDeliveryFailed       = problem.CodeDeliveryFailed
	CodeStorageFull          = problem.CodeStorageFull
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
