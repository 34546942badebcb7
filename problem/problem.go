// Package problem is the hub's shared vocabulary of refusals: a Problem (a
// stable snake_case code, a sentence and the field that caused it), the
// codes themselves, the Rejection that makes an error permanent, and HTTP
// error responses as RFC 9457 problem details with the codes in errors[].
// It is a leaf: adapters, services and HTTP handlers speak it without
// linking NATS, and bus re-exports it for the consume loop.
package problem

import (
	"encoding/json"
	"net/http"
)

// ContentType is the media type of a problem response.
const ContentType = "application/problem+json"

// Details is an RFC 9457 problem, extended with errors[].
type Details struct {
	Type   string        `json:"type"`
	Title  string        `json:"title"`
	Status int           `json:"status"`
	Detail string        `json:"detail,omitempty"`
	Errors []EventErrors `json:"errors"`
}

// EventErrors are the problems of one input: an event of a batch (Index, ID),
// or the request as a whole.
type EventErrors struct {
	Problem
	Index *int   `json:"index,omitempty"` // position in a batch
	ID    string `json:"id,omitempty"`    // the event's id, when it has one
}

// Write sends a problem response with the given status. The problem type is
// a URN naming the first code, so clients can branch on it without parsing
// the title.
func Write(w http.ResponseWriter, status int, detail string, errs []EventErrors) {
	code := "error"
	if len(errs) > 0 {
		code = errs[0].Code
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Details{
		Type:   "urn:crossdock:error:" + code,
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: errs,
	})
}

// One sends a problem response with a single problem.
func One(w http.ResponseWriter, status int, code, message, field string) {
	Write(w, status, message, []EventErrors{{Problem: Problem{Code: code, Message: message, Field: field}}})
}

// Unauthorized sends 401 with the WWW-Authenticate challenge RFC 9110 asks
// for, naming the bearer realm.
func Unauthorized(w http.ResponseWriter, realm, message string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	One(w, http.StatusUnauthorized, CodeUnauthorized, message, "")
}

// Of turns problems into errors[] entries for the request as a whole.
func Of(ps []Problem) []EventErrors {
	out := make([]EventErrors, len(ps))
	for i, p := range ps {
		out[i] = EventErrors{Problem: p}
	}
	return out
}
