package api

import "net/http"

// ProblemContentType is the media type of error responses over HTTP (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is the body of every failed HTTP response: an RFC 9457 problem document with the
// Error's code and, where present, the field and reason.
type Problem struct {
	Type   string    `json:"type"`
	Title  string    `json:"title"`
	Status int       `json:"status"`
	Detail string    `json:"detail,omitempty"`
	Code   ErrorCode `json:"code"`
	Field  string    `json:"field,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

// ProblemTypePrefix starts every problem's type URI; the code follows it.
const ProblemTypePrefix = "urn:kavach:problem:"

// statuses is the one mapping between error codes and HTTP statuses, both ways.
var statuses = map[ErrorCode]int{
	CodeInvalidInput:    http.StatusBadRequest,
	CodeUnauthenticated: http.StatusUnauthorized,
	CodeForbidden:       http.StatusForbidden,
	CodeNotFound:        http.StatusNotFound,
	CodeConflict:        http.StatusConflict,
	CodeInternal:        http.StatusInternalServerError,
}

// HTTPStatus is the status a code is answered with (500 for an unknown code).
func (c ErrorCode) HTTPStatus() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeForStatus classifies an HTTP status that came without a problem document: any 4xx
// without its own code is invalid input, anything else internal.
func CodeForStatus(status int) ErrorCode {
	for c, s := range statuses {
		if s == status {
			return c
		}
	}
	if status >= 400 && status < 500 {
		return CodeInvalidInput
	}
	return CodeInternal
}

// ProblemOf renders e as a problem document with the given HTTP status.
func ProblemOf(e *Error, status int) Problem {
	return Problem{
		Type: ProblemTypePrefix + string(e.Code), Title: http.StatusText(status), Status: status,
		Detail: e.Error(), Code: e.Code, Field: e.Field, Reason: e.Reason,
	}
}

// Err turns a problem document back into the Error it was made from.
func (p *Problem) Err() *Error {
	code := p.Code
	if code == "" {
		code = CodeForStatus(p.Status)
	}
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	return &Error{Code: code, Field: p.Field, Reason: p.Reason, Message: msg}
}
