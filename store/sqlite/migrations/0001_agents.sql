-- Tenants, agents and agent tokens. Times are Unix microseconds (UTC); permissions and
-- metadata are JSON documents.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

INSERT INTO tenants (id, name, created_at)
VALUES ('default', 'Default', CAST(unixepoch('subsec') * 1000000 AS INTEGER));

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    owner_id     TEXT NOT NULL,
    name         TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    expires_at   INTEGER,
    permissions  TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX agents_tenant_id ON agents (tenant_id, id);
CREATE INDEX agents_tenant_owner_id ON agents (tenant_id, owner_id, id);

-- Only SHA-256 hashes of tokens. valid_until is NULL for the current token and set for a
-- rotated-out token kept through a grace period.
CREATE TABLE agent_tokens (
    hash        TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    valid_until INTEGER,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX agent_tokens_agent ON agent_tokens (agent_id);
