-- API keys ("kva_…"): callers of the HTTP API. Only the SHA-256 of the secret is stored,
-- with a display prefix. A root key belongs to no tenant; every other key to one. Times are
-- Unix microseconds (UTC).
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    tenant_id  TEXT REFERENCES tenants (id),
    owner_id   TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('root', 'admin', 'app', 'user')),
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((role = 'root') = (tenant_id IS NULL)),
    CHECK ((role = 'user') = (owner_id <> ''))
) STRICT;

CREATE INDEX api_keys_tenant_owner ON api_keys (tenant_id, owner_id, id);
