package service

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"strconv"
	"strings"

	"github.com/kavachos/kavach-go/api"
)

// net/http answers some requests itself, before any handler runs: a request line and
// headers over MaxHeaderBytes (431), a malformed request (400), an unsupported transfer
// encoding (501). It writes each answer in one piece straight onto the connection, as
// text/plain. problemListener's connections recognise those writes and send the same
// status as problem+json instead, so that every refusal has one shape.
//
// They are recognised by their head: a status line followed at once by net/http's
// "Content-Type: text/plain; charset=utf-8" and "Connection: close". An answer written
// through a handler never starts that way, as net/http writes its headers sorted
// (Connection before Content-Type) and with a Date.

// plainErrorHead is what follows the status line of net/http's own error answers.
const plainErrorHead = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// problemListener wraps the connections of a listener so that net/http's own error
// answers go out as problem+json. TLS connections pass unwrapped: net/http must see them as
// *tls.Conn.
type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		return c, nil
	}
	return &problemConn{c}, nil
}

type problemConn struct{ net.Conn }

func (c *problemConn) Write(b []byte) (int, error) {
	if p, ok := problemForPlainError(b); ok {
		if _, err := c.Conn.Write(p); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// CloseWrite keeps net/http's half-close before it hangs up on a refused request, so that
// the client reads the answer rather than a reset.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// problemForPlainError turns one of net/http's own text/plain error answers into the same
// status as problem+json; ok is false for any other write.
func problemForPlainError(b []byte) (out []byte, ok bool) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
		return nil, false
	}
	line, rest, found := bytes.Cut(b, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest, []byte(plainErrorHead[2:])) || len(line) < len("HTTP/1.1 400") {
		return nil, false
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 400 {
		return nil, false
	}
	text := string(rest[len(plainErrorHead)-2:])
	e := &api.Error{Code: api.CodeInvalidInput, Reason: "MALFORMED_REQUEST", Message: "malformed HTTP request: " + text}
	if status == 431 {
		e.Field, e.Reason = "headers", "HEADERS_TOO_LARGE"
		e.Message = "the request line and headers are larger than " + strconv.Itoa(MaxHeaderBytes) + " bytes"
	} else if _, detail, found := strings.Cut(text, ": "); found {
		e.Message = "malformed HTTP request: " + detail
	}
	body, err := json.Marshal(api.ProblemOf(e, status))
	if err != nil {
		return nil, false
	}
	head := string(line) + "\r\nContent-Type: " + api.ProblemContentType + "\r\nCache-Control: no-store\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	return append([]byte(head), body...), true
}
