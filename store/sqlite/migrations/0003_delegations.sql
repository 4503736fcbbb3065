-- Delegations between agents of one tenant. Times are Unix microseconds (UTC);
-- permissions is a JSON document. Status is only ever active or revoked: expiry is derived
-- from expires_at when read.
CREATE TABLE delegations (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    from_agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    to_agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    permissions   TEXT NOT NULL,
    depth         INTEGER NOT NULL,
    max_depth     INTEGER NOT NULL,
    expires_at    INTEGER,
    status        TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) STRICT;

CREATE INDEX delegations_tenant_from ON delegations (tenant_id, from_agent_id, id);
CREATE INDEX delegations_tenant_to ON delegations (tenant_id, to_agent_id, id);
-- The engine walks the active delegations of every tenant at each compile.
CREATE INDEX delegations_active ON delegations (id) WHERE status = 'active';
