package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"

	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	msqlite "modernc.org/sqlite"

	"github.com/kavachos/kavach-go/store/internal/dbtrace"
)

// Every statement the store runs goes through tracedConn: a connection of modernc's driver
// with the same context interfaces, which makes each statement run inside a traced call a
// span (store/internal/dbtrace), and BEGIN, COMMIT and ROLLBACK of a transaction begun
// inside one. Outside a traced call, and while tracing is off, it passes each call
// straight on.

var system = semconv.DBSystemNameSQLite

// tracedConnector opens the driver's connections, wrapped.
type tracedConnector struct{ driver.Connector }

// openDB opens a pool over the data source name dsn whose connections are tracedConns.
func openDB(dsn string) (*sql.DB, error) {
	c, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(tracedConnector{c}), nil
}

func (c tracedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(innerConn)
	if !ok { // not the driver this was written for: run it untraced
		return conn, nil
	}
	return &tracedConn{inner}, nil
}

// innerConn is what modernc's connection implements.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type tracedConn struct{ innerConn }

var _ innerConn = (*tracedConn)(nil)

func (c *tracedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := st.(innerStmt)
	if !ok {
		return st, nil
	}
	return &tracedStmt{inner, query}, nil
}

func (c *tracedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *tracedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !dbtrace.Traced(ctx) {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	ctx, span := dbtrace.Start(ctx, system, query)
	res, err := c.innerConn.ExecContext(ctx, query, args)
	endExec(span, res, err)
	return res, err
}

func (c *tracedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if !dbtrace.Traced(ctx) {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	ctx, span := dbtrace.Start(ctx, system, query)
	rows, err := c.innerConn.QueryContext(ctx, query, args)
	return traceRows(span, rows, err)
}

func (c *tracedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if !dbtrace.Traced(ctx) {
		return c.innerConn.BeginTx(ctx, opts)
	}
	_, span := dbtrace.Start(ctx, system, "BEGIN")
	tx, err := c.innerConn.BeginTx(ctx, opts)
	dbtrace.End(span, err)
	if err != nil {
		return nil, err
	}
	return &tracedTx{tx, ctx}, nil
}

func (c *tracedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// tracedTx is a transaction begun inside a traced call: its end is a span of that call.
type tracedTx struct {
	driver.Tx
	ctx context.Context
}

func (t *tracedTx) Commit() error   { return t.end("COMMIT", t.Tx.Commit) }
func (t *tracedTx) Rollback() error { return t.end("ROLLBACK", t.Tx.Rollback) }

func (t *tracedTx) end(query string, fn func() error) error {
	_, span := dbtrace.Start(t.ctx, system, query)
	err := fn()
	dbtrace.End(span, err)
	return err
}

// innerStmt is what modernc's prepared statement implements.
type innerStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type tracedStmt struct {
	innerStmt
	query string
}

var _ innerStmt = (*tracedStmt)(nil)

func (s *tracedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if !dbtrace.Traced(ctx) {
		return s.innerStmt.ExecContext(ctx, args)
	}
	ctx, span := dbtrace.Start(ctx, system, s.query)
	res, err := s.innerStmt.ExecContext(ctx, args)
	endExec(span, res, err)
	return res, err
}

func (s *tracedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if !dbtrace.Traced(ctx) {
		return s.innerStmt.QueryContext(ctx, args)
	}
	ctx, span := dbtrace.Start(ctx, system, s.query)
	rows, err := s.innerStmt.QueryContext(ctx, args)
	return traceRows(span, rows, err)
}

func endExec(span trace.Span, res driver.Result, err error) {
	if err != nil || res == nil {
		dbtrace.End(span, err)
		return
	}
	if n, err := res.RowsAffected(); err == nil {
		dbtrace.End(span, nil, dbtrace.RowsAffected(n))
		return
	}
	dbtrace.End(span, nil)
}

// traceRows ends span when the rows are closed, with how many were read.
func traceRows(span trace.Span, rows driver.Rows, err error) (driver.Rows, error) {
	if err != nil {
		dbtrace.End(span, err)
		return nil, err
	}
	inner, ok := rows.(innerRows)
	if !ok {
		dbtrace.End(span, nil)
		return rows, nil
	}
	return &tracedRows{innerRows: inner, span: span}, nil
}

// innerRows is what modernc's rows implement.
type innerRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

type tracedRows struct {
	innerRows
	span trace.Span
	n    int64
	err  error
	done bool
}

var _ innerRows = (*tracedRows)(nil)

func (r *tracedRows) Next(dest []driver.Value) error {
	err := r.innerRows.Next(dest)
	if err == nil {
		r.n++
	} else if !errors.Is(err, io.EOF) {
		r.err = err
	}
	return err
}

func (r *tracedRows) Close() error {
	err := r.innerRows.Close()
	if !r.done {
		r.done = true
		dbtrace.End(r.span, errors.Join(r.err, err), dbtrace.ReturnedRows(r.n))
	}
	return err
}
