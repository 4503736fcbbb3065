package store

import (
	"encoding/base64"
	"fmt"
)

// EncodeCursor turns the last id of a page into an opaque cursor.
func EncodeCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// DecodeCursor returns the id a cursor continues after; "" starts from the beginning.
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || len(b) > 256 {
		return "", fmt.Errorf("%w: malformed cursor", ErrInvalidCursor)
	}
	return string(b), nil
}

// ErrInvalidCursor is returned for a cursor that no listing produced.
var ErrInvalidCursor = fmt.Errorf("invalid cursor")

// PageLimit clamps a requested page size to [1, 1000], defaulting to 50.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// Page trims a result fetched with limit+1 rows to limit and returns the cursor for the
// next page, or "" if there is none.
func Page[T any](rows []T, limit int, id func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, EncodeCursor(id(rows[limit-1]))
}
