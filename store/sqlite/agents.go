package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const agentColumns = `id, tenant_id, owner_id, name, type, status, token_prefix, expires_at,
	permissions, metadata, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanAgent(row rowScanner) (*agent.Agent, error) {
	return scanAgentWith(row, new(store.AgentDecoder))
}

// scanAgentWith decodes through dec, which interns the strings that repeat between agents.
func scanAgentWith(row rowScanner, dec *store.AgentDecoder) (*agent.Agent, error) {
	var r agentRow
	if err := r.scan(row); err != nil {
		return nil, err
	}
	return r.decode(dec)
}

// agentRow is an agents row as scanned, before its documents are decoded.
type agentRow struct {
	a                  agent.Agent
	expires            sql.NullInt64
	perms, meta        string
	created, updated   int64
	typ, status, owner string
}

func (r *agentRow) scan(row rowScanner) error {
	return row.Scan(&r.a.ID, &r.a.TenantID, &r.owner, &r.a.Name, &r.typ, &r.status, &r.a.TokenPrefix, &r.expires,
		&r.perms, &r.meta, &r.created, &r.updated)
}

func (r *agentRow) decode(dec *store.AgentDecoder) (*agent.Agent, error) {
	a := r.a
	a.TenantID, a.OwnerID = dec.Intern(a.TenantID), dec.Intern(r.owner)
	a.Type, a.Status = agent.Type(dec.Intern(r.typ)), agent.Status(dec.Intern(r.status))
	if r.expires.Valid {
		t := fromMicros(r.expires.Int64)
		a.ExpiresAt = &t
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(r.created), fromMicros(r.updated)
	if err := dec.DecodeAgentDocs(&a, store.AgentDocs{Permissions: r.perms, Metadata: r.meta}); err != nil {
		return nil, err
	}
	return &a, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// CreateAgent stores a new agent and its first token hash in one transaction, with the
// audit events attached to ctx.
func (s *Store) CreateAgent(ctx context.Context, a *agent.Agent, tokenHash string) error {
	docs, err := store.EncodeAgentDocs(a)
	if err != nil {
		return err
	}
	return s.write(ctx, "create agent", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.ID, a.TenantID, a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix,
			nullMicros(a.ExpiresAt), docs.Permissions, docs.Metadata, micros(a.CreatedAt), micros(a.UpdatedAt)); err != nil {
			return mapErr(err, "create agent "+a.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_tokens (hash, agent_id, created_at) VALUES (?,?,?)`,
			tokenHash, a.ID, micros(a.CreatedAt))
		return mapErr(err, "create agent token")
	})
}

// CreateAgents stores a batch of agents and their first token hashes in one transaction,
// through two prepared statements, with the audit events attached to ctx. The agents'
// documents are encoded by another goroutine while the inserts run, which is what the
// single writer waits on.
func (s *Store) CreateAgents(ctx context.Context, batch []store.AgentWithTokenHash) error {
	docs := make(chan encodedDocs, 64)
	stop := make(chan struct{})
	defer close(stop)
	go encodeAll(batch, docs, stop)
	return s.write(ctx, "create agents", func(tx *sql.Tx) error {
		// A larger page cache for this transaction only (see writerCacheSize). The pragma
		// is the connection's, not the transaction's: it is set back however this ends.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", bulkCacheSize)); err != nil {
			return mapErr(err, "create agents")
		}
		defer tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", writerCacheSize))
		insertAgent, err := tx.PrepareContext(ctx, `INSERT INTO agents (`+agentColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			return mapErr(err, "create agents")
		}
		defer insertAgent.Close()
		insertToken, err := tx.PrepareContext(ctx, `INSERT INTO agent_tokens (hash, agent_id, created_at) VALUES (?,?,?)`)
		if err != nil {
			return mapErr(err, "create agents")
		}
		defer insertToken.Close()
		for _, b := range batch {
			d := <-docs
			if d.err != nil {
				return d.err
			}
			a := b.Agent
			if _, err := insertAgent.ExecContext(ctx, a.ID, a.TenantID, a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix,
				nullMicros(a.ExpiresAt), d.Permissions, d.Metadata, micros(a.CreatedAt), micros(a.UpdatedAt)); err != nil {
				return mapErr(err, "create agent "+a.ID)
			}
			if _, err := insertToken.ExecContext(ctx, b.TokenHash, a.ID, micros(a.CreatedAt)); err != nil {
				return mapErr(err, "create agent token of "+a.ID)
			}
		}
		return nil
	})
}

type encodedDocs struct {
	store.AgentDocs
	err error
}

// encodeAll sends the documents of every agent of batch, in order, until stop closes.
func encodeAll(batch []store.AgentWithTokenHash, out chan<- encodedDocs, stop <-chan struct{}) {
	for _, b := range batch {
		var d encodedDocs
		d.AgentDocs, d.err = store.EncodeAgentDocs(b.Agent)
		select {
		case out <- d:
		case <-stop:
			return
		}
		if d.err != nil {
			return
		}
	}
}

// GetAgent returns one agent.
func (s *Store) GetAgent(ctx context.Context, id string) (*agent.Agent, error) {
	a, err := scanAgent(s.r.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
	return a, mapErr(err, "agent "+id)
}

// AgentByTokenHash returns the agent holding a token valid at now, and when it stops.
func (s *Store) AgentByTokenHash(ctx context.Context, hash string, now time.Time) (*agent.Agent, time.Time, error) {
	var until sql.NullInt64
	a, err := scanAgent(withColumn{s.r.QueryRowContext(ctx, `SELECT `+prefixed("a.")+`, t.valid_until FROM agent_tokens t
		JOIN agents a ON a.id = t.agent_id
		WHERE t.hash = ? AND (t.valid_until IS NULL OR t.valid_until > ?)`, hash, micros(now)), &until})
	if err != nil {
		return nil, time.Time{}, mapErr(err, "agent token")
	}
	if !until.Valid {
		return a, time.Time{}, nil
	}
	return a, fromMicros(until.Int64), nil
}

// withColumn scans one more column after an agent's.
type withColumn struct {
	row   rowScanner
	extra any
}

func (w withColumn) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra)...) }

// ListAgents returns one page of agents in id order.
func (s *Store) ListAgents(ctx context.Context, f store.AgentFilter) ([]*agent.Agent, string, error) {
	after, err := store.DecodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := store.PageLimit(f.Limit)
	q := `SELECT ` + agentColumns + ` FROM agents WHERE tenant_id = ? AND id > ?`
	args := []any{f.TenantID, after}
	if f.OwnerID != "" {
		q += ` AND owner_id = ?`
		args = append(args, f.OwnerID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", mapErr(err, "list agents")
	}
	defer rows.Close()
	var out []*agent.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, "", mapErr(err, "list agents")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapErr(err, "list agents")
	}
	out, next := store.Page(out, limit, func(a *agent.Agent) string { return a.ID })
	return out, next, nil
}

// AllAgents calls fn for every agent in id order, reading rows as fn consumes them.
func (s *Store) AllAgents(ctx context.Context, fn func(*agent.Agent) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY id`)
	if err != nil {
		return mapErr(err, "all agents")
	}
	defer rows.Close()
	// Rows are read on one goroutine and decoded and handed to fn on this one, in order:
	// at start-up, with a million agents, this uses both cores.
	const batchSize = 256
	batches := make(chan []agentRow, 4)
	stop := make(chan struct{})
	var scanErr error
	go func() {
		defer close(batches)
		for {
			batch := make([]agentRow, 0, batchSize)
			for len(batch) < batchSize && rows.Next() {
				batch = append(batch, agentRow{})
				if err := batch[len(batch)-1].scan(rows); err != nil {
					scanErr = err
					return
				}
			}
			if len(batch) == 0 {
				scanErr = rows.Err()
				return
			}
			select {
			case batches <- batch:
			case <-stop:
				return
			}
		}
	}()
	finish := func(err error) error {
		close(stop)
		for range batches { // let the reader see stop and exit before rows close
		}
		return err
	}
	dec := store.NewAgentDecoder()
	for batch := range batches {
		for i := range batch {
			a, err := batch[i].decode(dec)
			if err != nil {
				return finish(mapErr(err, "all agents"))
			}
			if err := fn(a); err != nil {
				return finish(err)
			}
		}
	}
	return mapErr(scanErr, "all agents")
}

// UpdateAgent applies fn to the agent inside a write transaction, with the audit events
// attached to ctx. SQLite's single writer makes the read-modify-write atomic.
func (s *Store) UpdateAgent(ctx context.Context, id string, fn func(*agent.Agent) error) (*agent.Agent, error) {
	var out *agent.Agent
	err := s.write(ctx, "update agent "+id, func(tx *sql.Tx) error {
		a, err := scanAgent(tx.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
		if err != nil {
			return mapErr(err, "agent "+id)
		}
		if err := fn(a); err != nil {
			return err
		}
		docs, err := store.EncodeAgentDocs(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET owner_id = ?, name = ?, type = ?, status = ?,
			token_prefix = ?, expires_at = ?, permissions = ?, metadata = ?, updated_at = ? WHERE id = ?`,
			a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix, nullMicros(a.ExpiresAt),
			docs.Permissions, docs.Metadata, micros(a.UpdatedAt), id); err != nil {
			return mapErr(err, "update agent "+id)
		}
		out = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RotateToken replaces the agent's current token, with the audit events attached to ctx.
func (s *Store) RotateToken(ctx context.Context, id, newHash, newPrefix string, graceUntil, now time.Time) (*agent.Agent, error) {
	var out *agent.Agent
	err := s.write(ctx, "rotate token of "+id, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE agents SET token_prefix = ?, updated_at = ? WHERE id = ?`, newPrefix, micros(now), id)
		if err != nil {
			return mapErr(err, "rotate token of "+id)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("agent %s: %w", id, store.ErrNotFound)
		}
		if graceUntil.IsZero() {
			_, err = tx.ExecContext(ctx, `DELETE FROM agent_tokens WHERE agent_id = ?`, id)
		} else {
			// Keep earlier tokens no longer than they were already allowed to live.
			_, err = tx.ExecContext(ctx, `DELETE FROM agent_tokens WHERE agent_id = ? AND valid_until <= ?`, id, micros(now))
			if err == nil {
				_, err = tx.ExecContext(ctx, `UPDATE agent_tokens SET valid_until = min(coalesce(valid_until, ?1), ?1)
					WHERE agent_id = ?2`, micros(graceUntil), id)
			}
		}
		if err != nil {
			return mapErr(err, "rotate token of "+id)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_tokens (hash, agent_id, created_at) VALUES (?,?,?)`, newHash, id, micros(now)); err != nil {
			return mapErr(err, "rotate token of "+id)
		}
		out, err = scanAgent(tx.QueryRowContext(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = ?`, id))
		return mapErr(err, "agent "+id)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func prefixed(p string) string {
	return p + `id, ` + p + `tenant_id, ` + p + `owner_id, ` + p + `name, ` + p + `type, ` + p + `status, ` +
		p + `token_prefix, ` + p + `expires_at, ` + p + `permissions, ` + p + `metadata, ` + p + `created_at, ` + p + `updated_at`
}

// CreateTenant stores a tenant, with the audit events attached to ctx.
func (s *Store) CreateTenant(ctx context.Context, t *agent.Tenant) error {
	return s.write(ctx, "tenant "+t.ID, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?,?,?)`, t.ID, t.Name, micros(t.CreatedAt))
		return mapErr(err, "tenant "+t.ID)
	})
}

// GetTenant returns one tenant.
func (s *Store) GetTenant(ctx context.Context, id string) (*agent.Tenant, error) {
	var t agent.Tenant
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, &created)
	if err != nil {
		return nil, mapErr(err, "tenant "+id)
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

// ListTenants returns every tenant in id order.
func (s *Store) ListTenants(ctx context.Context) ([]agent.Tenant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, mapErr(err, "list tenants")
	}
	defer rows.Close()
	var out []agent.Tenant
	for rows.Next() {
		var t agent.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, mapErr(err, "list tenants")
		}
		t.CreatedAt = fromMicros(created)
		out = append(out, t)
	}
	return out, mapErr(rows.Err(), "list tenants")
}
