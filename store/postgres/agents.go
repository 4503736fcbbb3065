package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kavachos/kavach-go/agent"
	"github.com/kavachos/kavach-go/store"
)

const agentColumns = `a.id, a.tenant_id, a.owner_id, a.name, a.type, a.status, a.token_prefix,
	a.expires_at, a.permissions::text, a.metadata::text, a.created_at, a.updated_at`

func scanAgent(row pgx.Row) (*agent.Agent, error) { return scanAgentWith(row, new(store.AgentDecoder)) }

// scanAgentWith decodes through dec, which interns the strings that repeat between agents.
func scanAgentWith(row pgx.Row, dec *store.AgentDecoder) (*agent.Agent, error) {
	var (
		a           agent.Agent
		docs        store.AgentDocs
		typ, status string
	)
	if err := row.Scan(&a.ID, &a.TenantID, &a.OwnerID, &a.Name, &typ, &status, &a.TokenPrefix,
		&a.ExpiresAt, &docs.Permissions, &docs.Metadata, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, err
	}
	a.TenantID, a.OwnerID = dec.Intern(a.TenantID), dec.Intern(a.OwnerID)
	a.Type, a.Status = agent.Type(dec.Intern(typ)), agent.Status(dec.Intern(status))
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if a.ExpiresAt != nil {
		t := a.ExpiresAt.UTC()
		a.ExpiresAt = &t
	}
	if err := dec.DecodeAgentDocs(&a, docs); err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateAgent stores a new agent and its first token hash in one transaction, with the
// audit events attached to ctx.
func (s *Store) CreateAgent(ctx context.Context, a *agent.Agent, tokenHash string) error {
	docs, err := store.EncodeAgentDocs(a)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agents (id, tenant_id, owner_id, name, type, status,
			token_prefix, expires_at, permissions, metadata, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
			a.ID, a.TenantID, a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix,
			a.ExpiresAt, docs.Permissions, docs.Metadata, a.CreatedAt, a.UpdatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO agent_tokens (hash, agent_id, created_at) VALUES ($1,$2,$3)`,
			tokenHash, a.ID, a.CreatedAt)
		return err
	})
	return mapErr(err, "create agent "+a.ID)
}

// CreateAgents stores a batch of agents and their first token hashes in one transaction,
// with COPY, encoding each agent's documents as COPY sends it, and with the audit events
// attached to ctx. The change feed announces each agent, as CreateAgent does.
func (s *Store) CreateAgents(ctx context.Context, batch []store.AgentWithTokenHash) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		i := 0
		agents := pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(batch) {
				return nil, nil
			}
			a := batch[i].Agent
			i++
			docs, err := store.EncodeAgentDocs(a)
			return []any{a.ID, a.TenantID, a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix,
				a.ExpiresAt, docs.Permissions, docs.Metadata, a.CreatedAt, a.UpdatedAt}, err
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"agents"}, []string{"id", "tenant_id", "owner_id", "name", "type", "status",
			"token_prefix", "expires_at", "permissions", "metadata", "created_at", "updated_at"}, agents); err != nil {
			return err
		}
		j := 0
		tokens := pgx.CopyFromFunc(func() ([]any, error) {
			if j == len(batch) {
				return nil, nil
			}
			b := batch[j]
			j++
			return []any{b.TokenHash, b.Agent.ID, b.Agent.CreatedAt}, nil
		})
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"agent_tokens"}, []string{"hash", "agent_id", "created_at"}, tokens)
		return err
	})
	return mapErr(err, "create agents")
}

// GetAgent returns one agent.
func (s *Store) GetAgent(ctx context.Context, id string) (*agent.Agent, error) {
	a, err := scanAgent(s.pool.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents a WHERE a.id = $1`, id))
	return a, mapErr(err, "agent "+id)
}

// AgentByTokenHash returns the agent holding a token valid at now, and when it stops.
func (s *Store) AgentByTokenHash(ctx context.Context, hash string, now time.Time) (*agent.Agent, time.Time, error) {
	var until *time.Time
	a, err := scanAgent(withColumn{s.pool.QueryRow(ctx, `SELECT `+agentColumns+`, t.valid_until FROM agent_tokens t
		JOIN agents a ON a.id = t.agent_id
		WHERE t.hash = $1 AND (t.valid_until IS NULL OR t.valid_until > $2)`, hash, now), &until})
	if err != nil {
		return nil, time.Time{}, mapErr(err, "agent token")
	}
	if until == nil {
		return a, time.Time{}, nil
	}
	return a, until.UTC(), nil
}

// withColumn scans one more column after an agent's.
type withColumn struct {
	row   pgx.Row
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
	rows, err := s.pool.Query(ctx, `SELECT `+agentColumns+` FROM agents a
		WHERE a.tenant_id = $1 AND a.id > $2
		  AND ($3 = '' OR a.owner_id = $3) AND ($4 = '' OR a.status = $4)
		ORDER BY a.id LIMIT $5`, f.TenantID, after, f.OwnerID, string(f.Status), limit+1)
	if err != nil {
		return nil, "", mapErr(err, "list agents")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*agent.Agent, error) { return scanAgent(r) })
	if err != nil {
		return nil, "", mapErr(err, "list agents")
	}
	out, next := store.Page(out, limit, func(a *agent.Agent) string { return a.ID })
	return out, next, nil
}

// AllAgents calls fn for every agent in id order, reading rows as fn consumes them.
func (s *Store) AllAgents(ctx context.Context, fn func(*agent.Agent) error) error {
	rows, err := s.pool.Query(ctx, `SELECT `+agentColumns+` FROM agents a ORDER BY a.id`)
	if err != nil {
		return mapErr(err, "all agents")
	}
	defer rows.Close()
	dec := store.NewAgentDecoder()
	for rows.Next() {
		a, err := scanAgentWith(rows, dec)
		if err != nil {
			return mapErr(err, "all agents")
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "all agents")
}

// UpdateAgent applies fn to the agent under a row lock (SELECT … FOR UPDATE), so concurrent
// updates serialise instead of overwriting each other, with the audit events attached to
// ctx.
func (s *Store) UpdateAgent(ctx context.Context, id string, fn func(*agent.Agent) error) (*agent.Agent, error) {
	var out *agent.Agent
	err := s.write(ctx, func(tx pgx.Tx) error {
		a, err := scanAgent(tx.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents a WHERE a.id = $1 FOR UPDATE`, id))
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
		if _, err := tx.Exec(ctx, `UPDATE agents SET owner_id = $1, name = $2, type = $3, status = $4,
			token_prefix = $5, expires_at = $6, permissions = $7, metadata = $8, updated_at = $9 WHERE id = $10`,
			a.OwnerID, a.Name, string(a.Type), string(a.Status), a.TokenPrefix, a.ExpiresAt,
			docs.Permissions, docs.Metadata, a.UpdatedAt, id); err != nil {
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE agents SET token_prefix = $1, updated_at = $2 WHERE id = $3`, newPrefix, now, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("agent %s: %w", id, store.ErrNotFound)
		}
		if graceUntil.IsZero() {
			_, err = tx.Exec(ctx, `DELETE FROM agent_tokens WHERE agent_id = $1`, id)
		} else {
			// Keep earlier tokens no longer than they were already allowed to live.
			_, err = tx.Exec(ctx, `DELETE FROM agent_tokens WHERE agent_id = $1 AND valid_until <= $2`, id, now)
			if err == nil {
				_, err = tx.Exec(ctx, `UPDATE agent_tokens SET valid_until = least(coalesce(valid_until, $1), $1)
					WHERE agent_id = $2`, graceUntil, id)
			}
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO agent_tokens (hash, agent_id, created_at) VALUES ($1,$2,$3)`, newHash, id, now); err != nil {
			return err
		}
		out, err = scanAgent(tx.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents a WHERE a.id = $1`, id))
		return err
	})
	if err != nil {
		return nil, mapErr(err, "rotate token of "+id)
	}
	return out, nil
}

// CreateTenant stores a tenant, with the audit events attached to ctx.
func (s *Store) CreateTenant(ctx context.Context, t *agent.Tenant) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1,$2,$3)`, t.ID, t.Name, t.CreatedAt)
		return err
	})
	return mapErr(err, "tenant "+t.ID)
}

// GetTenant returns one tenant.
func (s *Store) GetTenant(ctx context.Context, id string) (*agent.Tenant, error) {
	var t agent.Tenant
	if err := s.pool.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
		return nil, mapErr(err, "tenant "+id)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

// ListTenants returns every tenant in id order.
func (s *Store) ListTenants(ctx context.Context) ([]agent.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, mapErr(err, "list tenants")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (agent.Tenant, error) {
		var t agent.Tenant
		err := r.Scan(&t.ID, &t.Name, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		return t, err
	})
	return out, mapErr(err, "list tenants")
}
