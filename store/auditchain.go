package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// CanonicalEvent is the byte form of an event that its hash covers: every field but the
// hashes themselves, seq included, so that reordering, editing or moving an event breaks
// the chain. It is the JSON object encoding/json writes for
//
//	{"v":1,"tenantId","seq","id","time","kind","agentId","ownerId","actor","action",
//	 "resource","arguments","result","code","reason","durationNs","ip","userAgent",
//	 "grant","via","approvalId","revision","traceId"}
//
// in that order, with times in UTC at microsecond precision (as both backends keep them),
// arguments as the stored JSON text (compacted), and via never null. "traceId" is written
// only when the event has one: events recorded before trace ids existed, and events
// without one, hash exactly as they always have. Stored argument text
// that is not JSON is hashed as "invalid:" + id + ":" + text, so that verification reports
// the event rather than failing.
func CanonicalEvent(e *AuditEvent) []byte {
	return AppendCanonicalEvent(nil, e)
}

// AppendCanonicalEvent appends CanonicalEvent(e) to dst. Strings that encoding/json would
// write as they are (printable ASCII with nothing to escape: nearly all) are copied; any
// other is encoded by encoding/json itself, so the bytes never differ from its output.
func AppendCanonicalEvent(dst []byte, e *AuditEvent) []byte {
	start := len(dst)
	dst = appendStringFields(dst, `{"v":1,"tenantId":`, e.TenantID)
	dst = strconv.AppendInt(append(dst, `,"seq":`...), e.Seq, 10)
	dst = appendStringFields(dst, `,"id":`, e.ID)
	dst = e.Time.UTC().Truncate(time.Microsecond).AppendFormat(append(dst, `,"time":"`...), time.RFC3339Nano)
	dst = appendStringFields(dst, `","kind":`, e.Kind, `,"agentId":`, e.AgentID, `,"ownerId":`, e.OwnerID,
		`,"actor":`, e.Actor, `,"action":`, e.Action, `,"resource":`, e.Resource)
	var ok bool
	if dst, ok = appendRawJSON(append(dst, `,"arguments":`...), e.ArgumentsJSON); !ok {
		return append(dst[:start], "invalid:"+e.ID+":"+e.ArgumentsJSON...)
	}
	dst = appendStringFields(dst, `,"result":`, e.Result, `,"code":`, e.Code, `,"reason":`, e.Reason)
	dst = strconv.AppendInt(append(dst, `,"durationNs":`...), e.DurationNS, 10)
	dst = appendStringFields(dst, `,"ip":`, e.IP, `,"userAgent":`, e.UserAgent, `,"grant":`, e.Grant)
	dst = append(dst, `,"via":[`...)
	for i, v := range e.Via {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	dst = appendStringFields(dst, `],"approvalId":`, e.ApprovalID, `,"revision":`, e.Revision)
	if e.TraceID != "" {
		dst = appendStringFields(dst, `,"traceId":`, e.TraceID)
	}
	return append(dst, '}')
}

// appendStringFields appends pairs of a literal (a field's name and what precedes it) and a
// string value, encoded.
func appendStringFields(dst []byte, pairs ...string) []byte {
	for i := 0; i+1 < len(pairs); i += 2 {
		dst = appendJSONString(append(dst, pairs[i]...), pairs[i+1])
	}
	return dst
}

// appendRawJSON appends stored argument text as encoding/json embeds a json.RawMessage:
// null when empty, otherwise compacted with HTML characters escaped. It reports false when
// the text is not JSON.
func appendRawJSON(dst []byte, raw string) ([]byte, bool) {
	if raw == "" {
		return append(dst, "null"...), true
	}
	start := len(dst)
	dst = append(dst, raw...)
	if !compactAsIs(raw) {
		b, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			return dst[:start], false
		}
		return append(dst[:start], b...), true
	}
	return dst, json.Valid(dst[start:])
}

// compactAsIs reports whether compacting and HTML-escaping raw, were it valid JSON, would
// leave it unchanged: no white space outside strings, and no '<', '>', '&', or lead byte
// of U+2028 or U+2029 (0xE2, which also starts other characters: those take the slow path).
func compactAsIs(raw string) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '<' || c == '>' || c == '&' || c == 0xE2:
			return false
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// ChainHash is hex(SHA-256(prevHash ‖ "\n" ‖ canonical event)).
func ChainHash(prevHash string, e *AuditEvent) string {
	h, _ := chainHash(nil, prevHash, e)
	return h
}

// chainHash is ChainHash with a buffer to build the hashed bytes in, returned for reuse.
func chainHash(buf []byte, prevHash string, e *AuditEvent) (string, []byte) {
	buf = append(buf[:0], prevHash...)
	buf = append(buf, '\n')
	buf = AppendCanonicalEvent(buf, e)
	sum := sha256.Sum256(buf)
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	return string(hexSum[:]), buf
}

// ValidTraceID reports whether id is a W3C trace id as the ledger keeps it: 32 lowercase
// hex digits, not all zeros.
func ValidTraceID(id string) bool {
	if len(id) != 32 {
		return false
	}
	zero := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
		zero = zero && c == '0'
	}
	return !zero
}

// PrepareChain readies events for appending to one tenant's chain whose head is
// (seq, hash): it fills ArgumentsJSON, Seq, PrevHash and Hash, and returns the new head.
// A trace id that is not valid (ValidTraceID) is dropped rather than stored.
// Backends call it under the tenant's lock.
func PrepareChain(events []*AuditEvent, seq int64, hash string) (int64, string, error) {
	var buf []byte
	for _, e := range events {
		e.ArgumentsJSON = ""
		if e.Arguments != nil {
			var err error
			if e.ArgumentsJSON, buf, err = encodeArguments(buf, e.Arguments); err != nil {
				return 0, "", err
			}
		}
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		if !ValidTraceID(e.TraceID) {
			e.TraceID = ""
		}
		seq++
		e.Seq, e.PrevHash = seq, hash
		e.Hash, buf = chainHash(buf, hash, e)
		hash = e.Hash
	}
	return seq, hash, nil
}

// ByTenant groups events by tenant, keeping their order within each tenant, and returns
// the tenants in sorted order so that backends take their locks in one order.
func ByTenant(events []*AuditEvent) ([]string, map[string][]*AuditEvent) {
	groups := map[string][]*AuditEvent{}
	var tenants []string
	for _, e := range events {
		if _, ok := groups[e.TenantID]; !ok {
			tenants = append(tenants, e.TenantID)
		}
		groups[e.TenantID] = append(groups[e.TenantID], e)
	}
	slices.Sort(tenants)
	return tenants, groups
}

// CollectAudit returns the events StreamAudit would stream, in a slice: for small queries
// and tests.
func CollectAudit(ctx context.Context, s AuditStore, q AuditQuery) ([]*AuditEvent, error) {
	var out []*AuditEvent
	err := s.StreamAudit(ctx, q, func(e *AuditEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
