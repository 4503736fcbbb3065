-- State of the OAuth 2.1 authorization server (oidc/). Secrets are stored only as SHA-256
-- hashes: client secrets, authorization codes and refresh tokens. Each object keeps its
-- full JSON document in doc beside the columns that are searched or changed atomically.
CREATE TABLE oauth_clients (
    id          text PRIMARY KEY,
    secret_hash text,
    metadata    text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE oauth_auth_requests (
    id           text PRIMARY KEY,
    client_id    text NOT NULL,
    code_hash    text UNIQUE,
    code_used_at timestamptz,
    doc          text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX oauth_auth_requests_expiry ON oauth_auth_requests (expires_at);

-- Access tokens (kind 'access', known by their JWT id) and refresh tokens (kind 'refresh',
-- looked up by hash). grant_id ties every token of one authorization together.
CREATE TABLE oauth_tokens (
    id         text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('access', 'refresh')),
    hash       text UNIQUE,
    grant_id   text NOT NULL,
    client_id  text NOT NULL,
    doc        text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);

CREATE TABLE oauth_consents (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    owner_id   text NOT NULL,
    client_id  text NOT NULL,
    doc        text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, owner_id, client_id)
);

CREATE TABLE oauth_signing_keys (
    id          text PRIMARY KEY,
    algorithm   text NOT NULL,
    private_key text NOT NULL,
    created_at  timestamptz NOT NULL,
    active_from timestamptz NOT NULL
);
