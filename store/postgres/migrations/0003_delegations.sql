-- Delegations between agents of one tenant. Permissions is a JSON document. Status is only
-- ever active or revoked: expiry is derived from expires_at when read.
CREATE TABLE delegations (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    from_agent_id text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    to_agent_id   text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    permissions   jsonb NOT NULL,
    depth         integer NOT NULL,
    max_depth     integer NOT NULL,
    expires_at    timestamptz,
    status        text NOT NULL CHECK (status IN ('active', 'revoked')),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);

CREATE INDEX delegations_tenant_from ON delegations (tenant_id, from_agent_id, id);
CREATE INDEX delegations_tenant_to ON delegations (tenant_id, to_agent_id, id);
-- The engine walks the active delegations of every tenant at each compile.
CREATE INDEX delegations_active ON delegations (id) WHERE status = 'active';
