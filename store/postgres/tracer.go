package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kavachos/kavach-go/store/internal/dbtrace"
	"github.com/kavachos/kavach-go/telemetry"
)

// tracer makes each statement pgx sends a span (store/internal/dbtrace): queries and
// executions, batches (one span for the round trip), COPY, explicit prepares and new
// connections. Argument values are never recorded. While tracing is off, or outside a
// traced call, each hook returns at its first check.
type tracer struct{}

var (
	_ pgx.QueryTracer    = tracer{}
	_ pgx.BatchTracer    = tracer{}
	_ pgx.CopyFromTracer = tracer{}
	_ pgx.PrepareTracer  = tracer{}
	_ pgx.ConnectTracer  = tracer{}
)

// Each kind of hook keeps the span it opened under its own key, so that an end hook never
// ends a span it did not open (pgx may prepare inside a query).
type (
	querySpan   struct{}
	batchSpan   struct{}
	copySpan    struct{}
	prepareSpan struct{}
	connectSpan struct{}
)

var system = semconv.DBSystemNamePostgreSQL

func serverAttrs(conn *pgx.Conn) []attribute.KeyValue {
	if conn == nil {
		return nil
	}
	cfg := conn.Config()
	return []attribute.KeyValue{semconv.ServerAddress(cfg.Host), semconv.ServerPort(int(cfg.Port))}
}

func start(ctx context.Context, key any, query string, attrs ...attribute.KeyValue) context.Context {
	ctx, span := dbtrace.Start(ctx, system, query, attrs...)
	return context.WithValue(ctx, key, span)
}

func spanOf(ctx context.Context, key any) trace.Span {
	span, _ := ctx.Value(key).(trace.Span)
	return span
}

// result describes what a command tag tells of the rows.
func result(tag pgconn.CommandTag) []attribute.KeyValue {
	switch {
	case tag.Select():
		return []attribute.KeyValue{dbtrace.ReturnedRows(tag.RowsAffected())}
	case tag.Insert(), tag.Update(), tag.Delete(), strings.HasPrefix(tag.String(), "COPY"), strings.HasPrefix(tag.String(), "MERGE"):
		return []attribute.KeyValue{dbtrace.RowsAffected(tag.RowsAffected())}
	}
	return nil
}

func (tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !dbtrace.Traced(ctx) {
		return ctx
	}
	return start(ctx, querySpan{}, data.SQL, serverAttrs(conn)...)
}

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if span := spanOf(ctx, querySpan{}); span != nil {
		dbtrace.End(span, data.Err, result(data.CommandTag)...)
	}
}

// batch is a batch's span and what its statements reported.
type batch struct {
	span trace.Span
	rows int64
	err  error
}

// TraceBatchStart opens one span for the batch: its statements travel in one round trip,
// so they have no times of their own. Its text is each distinct statement once.
func (tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !dbtrace.Traced(ctx) || data.Batch == nil {
		return ctx
	}
	var texts []string
	seen := map[string]bool{}
	for _, q := range data.Batch.QueuedQueries {
		if !seen[q.SQL] {
			seen[q.SQL] = true
			texts = append(texts, q.SQL)
		}
	}
	query := strings.Join(texts, ";\n")
	op, table := "BATCH", ""
	if len(texts) == 1 {
		op, table = dbtrace.Summary(texts[0])
		op = "BATCH " + op
	}
	ctx, span := dbtrace.StartNamed(ctx, system, op, table, query,
		append(serverAttrs(conn), semconv.DBOperationBatchSize(data.Batch.Len()))...)
	return context.WithValue(ctx, batchSpan{}, &batch{span: span})
}

func (tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if b, _ := ctx.Value(batchSpan{}).(*batch); b != nil {
		if n := data.CommandTag.RowsAffected(); n > 0 && !data.CommandTag.Select() {
			b.rows += n
		}
		if b.err == nil {
			b.err = data.Err
		}
	}
}

func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if b, _ := ctx.Value(batchSpan{}).(*batch); b != nil {
		err := data.Err
		if err == nil {
			err = b.err
		}
		dbtrace.End(b.span, err, dbtrace.RowsAffected(b.rows))
	}
}

func (tracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	if !dbtrace.Traced(ctx) {
		return ctx
	}
	query := "COPY " + data.TableName.Sanitize() + " (" + strings.Join(data.ColumnNames, ", ") + ") FROM STDIN"
	return start(ctx, copySpan{}, query, serverAttrs(conn)...)
}

func (tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	if span := spanOf(ctx, copySpan{}); span != nil {
		dbtrace.End(span, data.Err, result(data.CommandTag)...)
	}
}

func (tracer) TracePrepareStart(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if !dbtrace.Traced(ctx) {
		return ctx
	}
	_, table := dbtrace.Summary(data.SQL)
	ctx, span := dbtrace.StartNamed(ctx, system, "PREPARE", table, data.SQL, serverAttrs(conn)...)
	return context.WithValue(ctx, prepareSpan{}, span)
}

func (tracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	if span := spanOf(ctx, prepareSpan{}); span != nil {
		dbtrace.End(span, data.Err)
	}
}

func (tracer) TraceConnectStart(ctx context.Context, data pgx.TraceConnectStartData) context.Context {
	if !dbtrace.Traced(ctx) {
		return ctx
	}
	var attrs []attribute.KeyValue
	if cfg := data.ConnConfig; cfg != nil {
		attrs = append(attrs, semconv.ServerAddress(cfg.Host), semconv.ServerPort(int(cfg.Port)))
	}
	ctx, span := telemetry.Start(ctx, "CONNECT", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(append(attrs, system)...)
	}
	return context.WithValue(ctx, connectSpan{}, span)
}

func (tracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if span := spanOf(ctx, connectSpan{}); span != nil {
		dbtrace.End(span, data.Err)
	}
}
