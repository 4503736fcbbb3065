package api

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a failed request. The HTTP layer maps each to one status.
type ErrorCode string

// Error codes.
const (
	CodeInvalidInput    ErrorCode = "invalid_input"   // 400
	CodeUnauthenticated ErrorCode = "unauthenticated" // 401
	CodeForbidden       ErrorCode = "forbidden"       // 403
	CodeNotFound        ErrorCode = "not_found"       // 404
	CodeConflict        ErrorCode = "conflict"        // 409
	CodeInternal        ErrorCode = "internal"        // 500
)

// Error is the error every api.Kavach implementation returns. Field names the offending
// input field for CodeInvalidInput; Reason carries a decision code (such as TOKEN_INVALID)
// where one applies.
type Error struct {
	Code    ErrorCode `json:"code"`
	Field   string    `json:"field,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message"`
	Err     error     `json:"-"`
}

func (e *Error) Error() string {
	if e.Field != "" && e.Message == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Field)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's code, or CodeInternal for an error that is not an *Error.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsNotFound reports whether err is a not-found error.
func IsNotFound(err error) bool { return err != nil && CodeOf(err) == CodeNotFound }

// IsConflict reports whether err is a conflict.
func IsConflict(err error) bool { return err != nil && CodeOf(err) == CodeConflict }

// IsInvalidInput reports whether err is about bad input.
func IsInvalidInput(err error) bool { return err != nil && CodeOf(err) == CodeInvalidInput }

// IsForbidden reports whether the actor may not do what it asked.
func IsForbidden(err error) bool { return err != nil && CodeOf(err) == CodeForbidden }

// IsUnauthenticated reports whether a credential was missing or not accepted.
func IsUnauthenticated(err error) bool { return err != nil && CodeOf(err) == CodeUnauthenticated }
