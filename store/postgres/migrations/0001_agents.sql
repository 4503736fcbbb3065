-- Tenants, agents and agent tokens. Permissions and metadata are JSON documents.
CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);

INSERT INTO tenants (id, name, created_at) VALUES ('default', 'Default', now());

CREATE TABLE agents (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    owner_id     text NOT NULL,
    name         text NOT NULL,
    type         text NOT NULL,
    status       text NOT NULL,
    token_prefix text NOT NULL,
    expires_at   timestamptz,
    permissions  jsonb NOT NULL,
    metadata     jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE INDEX agents_tenant_id ON agents (tenant_id, id);
CREATE INDEX agents_tenant_owner_id ON agents (tenant_id, owner_id, id);

-- Only SHA-256 hashes of tokens. valid_until is NULL for the current token and set for a
-- rotated-out token kept through a grace period.
CREATE TABLE agent_tokens (
    hash        text PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    valid_until timestamptz,
    created_at  timestamptz NOT NULL
);

CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
