package pgproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Codes of the untyped messages a client may open a connection with (protocol §55.7).
const (
	codeCancelRequest = 80877102
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
)

// Limits that keep a corrupt stream from making the proxy allocate without bound.
const (
	maxStartupLen = 10_000
	maxMessageLen = 1 << 30
)

// readStartup reads one untyped startup-phase packet: an int32 length that counts itself,
// then an int32 code (a protocol version, or one of the request codes above) and the rest.
// It returns the whole packet as read, for forwarding, and its code.
func readStartup(r io.Reader) ([]byte, uint32, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, 0, err
	}
	n := binary.BigEndian.Uint32(head[:4])
	if n < 8 || n > maxStartupLen {
		return nil, 0, fmt.Errorf("pgproxy: startup packet of %d bytes", n)
	}
	buf := make([]byte, n)
	copy(buf, head[:])
	if _, err := io.ReadFull(r, buf[8:]); err != nil {
		return nil, 0, err
	}
	return buf, binary.BigEndian.Uint32(head[4:]), nil
}

// message is one typed protocol message: its type byte, and the raw bytes as they travel
// (type, int32 length, body), so that it is forwarded unchanged.
type message struct {
	typ byte
	raw []byte
}

func (m message) body() []byte { return m.raw[5:] }

// readMessage reads one typed message.
func readMessage(r io.Reader) (message, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return message{}, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > maxMessageLen {
		return message{}, fmt.Errorf("pgproxy: message %q of %d bytes", head[0], n)
	}
	raw := make([]byte, 1+n)
	copy(raw, head[:])
	if _, err := io.ReadFull(r, raw[5:]); err != nil {
		return message{}, err
	}
	return message{typ: head[0], raw: raw}, nil
}

// cstrings splits a body into its NUL-terminated strings, up to n of them.
func cstrings(b []byte, n int) []string {
	var out []string
	for len(out) < n {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			break
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

// first returns the first of a body's strings, or "".
func first(b []byte) string {
	if s := cstrings(b, 1); len(s) == 1 {
		return s[0]
	}
	return ""
}

// isCommit says whether a statement ends a transaction by committing it. Only a statement
// on its own is recognised, as drivers send it ("commit", "COMMIT;", "END").
func isCommit(sql string) bool {
	s := strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sql), ";")))
	switch strings.Join(strings.Fields(s), " ") {
	case "commit", "commit work", "commit transaction", "end", "end work", "end transaction":
		return true
	}
	return false
}

// isListen says whether a statement is a LISTEN.
func isListen(sql string) bool {
	f := strings.Fields(sql)
	return len(f) > 0 && strings.EqualFold(f[0], "listen")
}
