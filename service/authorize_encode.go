package service

import (
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/api"
)

// replyDecision answers a decision as c.JSON would, byte for byte, without reflection:
// the same fields, escaping and trailing newline (FuzzDecisionEncoder compares them). A
// decision with a retry-after, or a request asking for ?pretty output, goes through
// c.JSON itself.
func replyDecision(c echo.Context, d *api.Decision, err error) error {
	if err != nil {
		return err
	}
	if d == nil || d.RetryAfter != 0 || c.Request().URL.RawQuery != "" {
		return c.JSON(http.StatusOK, d)
	}
	buf := replyBuffers.Get().(*[]byte)
	defer replyBuffers.Put(buf)
	*buf = appendDecision((*buf)[:0], d)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, *buf)
}

var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendDecision appends d as encoding/json's Encoder writes it, less RetryAfter (which
// the caller leaves to encoding/json).
func appendDecision(b []byte, d *api.Decision) []byte {
	b = append(b, `{"allowed":`...)
	if d.Allowed {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"code":`...)
	b = appendJSONString(b, string(d.Code))
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, d.Reason)
	b = append(b, `,"auditId":`...)
	b = appendJSONString(b, d.AuditID)
	if d.Grant != "" {
		b = append(b, `,"grant":`...)
		b = appendJSONString(b, d.Grant)
	}
	if len(d.Via) > 0 {
		b = append(b, `,"via":[`...)
		for i, v := range d.Via {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	if d.ApprovalID != "" {
		b = append(b, `,"approvalId":`...)
		b = appendJSONString(b, d.ApprovalID)
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s quoted as encoding/json does with HTML escaping on (its
// default): <, > and & as \u003c, \u003e and \u0026, invalid UTF-8 as \ufffd, and U+2028
// and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
