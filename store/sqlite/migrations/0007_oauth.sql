-- State of the OAuth 2.1 authorization server (oidc/). Secrets are stored only as SHA-256
-- hashes: client secrets, authorization codes and refresh tokens. Each object keeps its
-- full JSON document in doc beside the columns that are searched or changed atomically.
-- Times are Unix microseconds (UTC).
CREATE TABLE oauth_clients (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT,
    metadata    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE oauth_auth_requests (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL,
    code_hash    TEXT UNIQUE,
    code_used_at INTEGER,
    doc          TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX oauth_auth_requests_expiry ON oauth_auth_requests (expires_at);

-- Access tokens (kind 'access', known by their JWT id) and refresh tokens (kind 'refresh',
-- looked up by hash). grant_id ties every token of one authorization together.
CREATE TABLE oauth_tokens (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    hash       TEXT UNIQUE,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
) STRICT;

CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);

CREATE TABLE oauth_consents (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    owner_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, owner_id, client_id)
) STRICT;

CREATE TABLE oauth_signing_keys (
    id          TEXT PRIMARY KEY,
    algorithm   TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    active_from INTEGER NOT NULL
) STRICT;
