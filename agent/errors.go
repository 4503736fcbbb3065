package agent

import (
	"errors"
	"fmt"
)

// Errors about an agent's state.
var (
	ErrRevoked = errors.New("agent is revoked")
	ErrExpired = errors.New("agent has expired")
)

// ValidationError says which field of an input is wrong and why.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}
