package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/api"
)

// bind decodes the request body, a single JSON object, into dst. Unknown fields, trailing
// data, invalid UTF-8, a string over its limit, a body over the size limit and a content
// type other than application/json are refused, each naming the problem. An empty body
// leaves dst alone unless required.
func (s *Server) bind(c echo.Context, dst any, required bool) error {
	if err := s.bindFast(c, dst, required, nil); err != nil {
		return err
	}
	return checkStrings(dst)
}

// bindFast is bind with a hand decoder tried first (see authorize_decode.go): fast
// decodes the body into dst and reports true, or reports false, leaving dst alone, and
// the body is decoded by encoding/json as bind does.
func (s *Server) bindFast(c echo.Context, dst any, required bool, fast func(body []byte) bool) error {
	buf := bodyBuffers.Get().(*[]byte)
	defer putBodyBuffer(buf)
	body, err := s.readBody(c, buf)
	if err != nil {
		return err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		if required {
			return invalid("body", "a JSON object is required")
		}
		return nil
	}
	if err := checkJSONContentType(c.Request()); err != nil {
		return err
	}
	if trimmed[0] != '{' {
		return invalid("body", "the body must be a JSON object")
	}
	if fast != nil && fast(trimmed) {
		return nil // the hand decoders take only valid UTF-8 and no escapes
	}
	if err := checkText(trimmed); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, trimmed, reflect.TypeOf(dst))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

// bodyBuffers hold request bodies while they are decoded; encoding/json and the hand
// decoders copy what they keep, so a buffer is free again once its body is bound.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func putBodyBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bodyBuffers.Put(b)
	}
}

// readBody reads at most MaxBodyBytes of the body into buf; a larger one is 413.
func (s *Server) readBody(c echo.Context, buf *[]byte) ([]byte, error) {
	r := c.Request()
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, s.tooLarge()
	}
	if r.ContentLength > 0 {
		// The length is known and within the limit, and net/http's reader stops there.
		b := slices.Grow((*buf)[:0], int(r.ContentLength))[:r.ContentLength]
		*buf = b
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, invalid("body", "reading the body failed: %v", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, s.tooLarge()
	case err != nil:
		return nil, invalid("body", "reading the body failed: %v", err)
	}
	return b, nil
}

func (s *Server) tooLarge() error {
	return &statusError{http.StatusRequestEntityTooLarge, &api.Error{Code: api.CodeInvalidInput, Field: "body",
		Reason: "BODY_TOO_LARGE", Message: "the body is larger than " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes"}}
}

func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == echo.MIMEApplicationJSON {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == echo.MIMEApplicationJSON {
		return nil
	}
	return &statusError{http.StatusUnsupportedMediaType, &api.Error{Code: api.CodeInvalidInput, Field: "Content-Type",
		Reason: "UNSUPPORTED_MEDIA_TYPE", Message: "the body must be sent as application/json, not " + strconv.Quote(ct)}}
}

// checkText refuses a body whose strings encoding/json would not keep as sent: invalid
// UTF-8 and \u escapes of lone surrogates, which it silently replaces with U+FFFD, so that
// distinct ids would collapse into one. It names the string's field.
func checkText(body []byte) error {
	if utf8.Valid(body) && !surrogateEscape(body) {
		return nil
	}
	if path, found := badText(body); found {
		return invalid(path, "not valid UTF-8 (or an escaped lone surrogate)")
	}
	if !utf8.Valid(body) {
		return invalid("body", "not valid UTF-8")
	}
	return nil
}

// decodeError names the field a JSON decoding error of body into type t is about, by its
// full path: encoding/json gives an unknown field's name alone, a mistyped value's path
// without array indexes, and a bad time none at all.
func decodeError(err error, body []byte, t reflect.Type) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		parse  *time.ParseError
	)
	switch {
	case errors.As(err, &syntax):
		return invalid("body", "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("body", "the JSON object is cut short")
	}
	fault := locate(body, t)
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		field := fault.unknown
		if field == "" {
			field = name
		}
		e := invalid(field, "unknown field %q", name)
		e.Reason = "UNKNOWN_FIELD"
		return e
	}
	field, badType := fault.bad, fault.badType
	if field == "" {
		field = "body"
		if errors.As(err, &typ) && typ.Field != "" {
			field = typ.Field
		}
	}
	switch {
	case errors.As(err, &parse):
		return invalid(field, "%q is not an RFC 3339 time such as \"2026-01-02T15:04:05Z\"", parse.Value)
	case badType == reflect.TypeFor[time.Time]():
		return invalid(field, "must be an RFC 3339 time such as \"2026-01-02T15:04:05Z\"")
	case badType == reflect.TypeFor[agent.Duration]() || errors.As(err, &typ) && typ.Type == reflect.TypeFor[agent.Duration]():
		return invalid(field, "must be a duration string such as \"90s\" or \"15m\"")
	case badType != nil:
		return invalid(field, "must be %s", jsonKind(badType))
	case errors.As(err, &typ):
		return invalid(field, "must be %s", jsonKind(typ.Type))
	}
	return invalid(field, "%v", err)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "of type " + t.String()
}

// query returns the query parameters after checking that each is one of allowed and given
// at most once: a misspelt filter must not silently widen a listing.
func query(c echo.Context, allowed ...string) (url.Values, error) {
	q := c.QueryParams()
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			e := invalid(name, "unknown query parameter %q (this route takes %s)", name, strings.Join(allowed, ", "))
			e.Reason = "UNKNOWN_FIELD"
			return nil, e
		}
		if len(vs) > 1 {
			return nil, invalid(name, "given more than once")
		}
		if err := checkQueryValue(name, vs[0]); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// intQuery reads an optional integer query parameter.
func intQuery(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, invalid(name, "%q is not an integer", v)
	}
	return n, nil
}
