-- API keys ("kva_…"): callers of the HTTP API. Only the SHA-256 of the secret is stored,
-- with a display prefix. A root key belongs to no tenant; every other key to one.
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    hash       text NOT NULL UNIQUE,
    tenant_id  text REFERENCES tenants (id),
    owner_id   text NOT NULL,
    role       text NOT NULL CHECK (role IN ('root', 'admin', 'app', 'user')),
    name       text NOT NULL,
    prefix     text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    CHECK ((role = 'root') = (tenant_id IS NULL)),
    CHECK ((role = 'user') = (owner_id <> ''))
);

CREATE INDEX api_keys_tenant_owner ON api_keys (tenant_id, owner_id, id);
