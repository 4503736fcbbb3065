// Package dbtrace opens the spans of the stores' SQL statements: one client span per
// statement, named by its operation and table, with the statement's text (our SQL is
// parameterized, and argument values are never recorded). A statement is traced only when
// it runs inside a recording span (a store call made while serving a traced request), so
// background polling opens no root spans, and while tracing is off nothing is done.
package dbtrace

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/telemetry"
)

// RowsAffectedKey is the number of rows a statement changed (semantic conventions name
// only returned rows).
const RowsAffectedKey = attribute.Key("db.response.rows_affected")

// Traced reports whether a statement run with ctx gets a span: tracing is on and ctx's
// span is recording.
func Traced(ctx context.Context) bool {
	return telemetry.Enabled() && trace.SpanFromContext(ctx).IsRecording()
}

// Start opens the span of one statement, query, on the database system named by system
// (semconv.DBSystemNamePostgreSQL, semconv.DBSystemNameSQLite), named by its operation and
// table. Call it only when Traced.
func Start(ctx context.Context, system attribute.KeyValue, query string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	op, table := Summary(query)
	return StartNamed(ctx, system, op, table, query, attrs...)
}

// StartNamed is Start with the operation and table given.
func StartNamed(ctx context.Context, system attribute.KeyValue, op, table, query string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	name := op
	if table != "" {
		name = op + " " + table
	}
	ctx, span := telemetry.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(system, semconv.DBOperationName(op), semconv.DBQueryText(query))
		if table != "" {
			span.SetAttributes(semconv.DBCollectionName(table))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// End ends a statement's span with its error and what is known of its result
// (ReturnedRows, RowsAffected).
func End(span trace.Span, err error, result ...attribute.KeyValue) {
	if len(result) > 0 && span.IsRecording() {
		span.SetAttributes(result...)
	}
	telemetry.Fail(span, err)
	span.End()
}

// ReturnedRows is the number of rows a query returned.
func ReturnedRows(n int64) attribute.KeyValue { return semconv.DBResponseReturnedRowsKey.Int64(n) }

// RowsAffected is the number of rows a statement changed.
func RowsAffected(n int64) attribute.KeyValue { return RowsAffectedKey.Int64(n) }

// Summary returns the statement's operation (its first keyword, in upper case) and, when
// it is plain to see, the table it works on: the table after INSERT INTO, UPDATE, COPY,
// DELETE FROM or the first FROM of a SELECT.
func Summary(query string) (op, table string) {
	words := &words{s: query}
	first := words.next()
	op = upper(first)
	var after string // the keyword the table follows
	switch op {
	case "INSERT", "REPLACE":
		after = "INTO"
	case "UPDATE", "COPY":
		return op, tableName(words.next())
	case "DELETE", "SELECT", "WITH":
		after = "FROM"
	default:
		return op, ""
	}
	for range 64 {
		w := words.next()
		if w == "" || w == "(" {
			return op, ""
		}
		if upper(w) == after {
			return op, tableName(words.next())
		}
		if op == "INSERT" && upper(w) == "OR" { // INSERT OR ROLLBACK INTO
			continue
		}
	}
	return op, ""
}

// tableName returns w without quotes when it is a table name (not a subquery or a
// keyword).
func tableName(w string) string {
	if w == "" || w == "(" || upper(w) == "ONLY" {
		return ""
	}
	if strings.ContainsRune(w, '"') {
		w = strings.ReplaceAll(w, `"`, "")
	}
	return w
}

// words reads SQL words: runs of letters, digits, '_', '.' and '"'; any other character
// but white space is a word of its own.
type words struct {
	s string
	i int
}

func (w *words) next() string {
	for w.i < len(w.s) && isSpace(w.s[w.i]) {
		w.i++
	}
	start := w.i
	for w.i < len(w.s) && isWord(w.s[w.i]) {
		w.i++
	}
	if w.i == start && w.i < len(w.s) {
		w.i++
	}
	return w.s[start:w.i]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '"'
}

// upper returns w in upper case, without allocating when it already is.
func upper(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'a' && c <= 'z' {
			b := []byte(w)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return w
}
