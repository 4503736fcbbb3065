package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// The ledger hashes and stores JSON that encoding/json wrote. These functions write the
// same bytes for what audit events hold (strings, and arguments decoded from JSON) without
// its reflection and allocations; anything else they leave to encoding/json.

// encodeArguments is EncodeArguments into buf (returned for reuse) for non-nil arguments.
func encodeArguments(buf []byte, args map[string]any) (string, []byte, error) {
	buf, ok := appendJSONObject(buf[:0], args)
	if ok {
		return string(buf), buf, nil
	}
	b, err := json.Marshal(args)
	if err != nil {
		return "", buf, fmt.Errorf("encode arguments: %w", err)
	}
	return string(b), buf, nil
}

// appendJSONValue appends v as encoding/json encodes it, for the values decoded JSON holds
// (nil, bool, float64, string, []any, map[string]any) and Go integers. It reports false for
// anything else, or a number JSON cannot hold.
func appendJSONValue(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, x), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case float64:
		return appendJSONFloat(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case map[string]any:
		return appendJSONObject(dst, x)
	case []any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, elem := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSONValue(dst, elem); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// appendJSONObject appends m with its keys in sorted order, as encoding/json does.
func appendJSONObject(dst []byte, m map[string]any) ([]byte, bool) {
	if m == nil {
		return append(dst, "null"...), true
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendJSONValue(dst, m[k]); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// appendJSONFloat appends f as encoding/json formats a float64: the shortest form, with an
// exponent only below 1e-6 or from 1e21, and no leading zero in a negative exponent.
func appendJSONFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1] // e-07 → e-7
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// appendJSONString appends s as encoding/json encodes a string (with HTML escaping).
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
