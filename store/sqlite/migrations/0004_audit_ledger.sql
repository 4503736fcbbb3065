-- The audit ledger: one hash chain per tenant. seq and prev_hash are assigned in commit
-- order; hash = SHA-256(prev_hash, canonical event). Times are Unix microseconds.
-- arguments holds the exact JSON text that was hashed.
CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    time        INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    arguments   TEXT,
    result      TEXT NOT NULL,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    duration_ns INTEGER NOT NULL,
    ip          TEXT NOT NULL,
    user_agent  TEXT NOT NULL,
    grant_id    TEXT NOT NULL,
    via         TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    revision    TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT;

CREATE INDEX audit_events_tenant_agent ON audit_events (tenant_id, agent_id, seq);
CREATE INDEX audit_events_tenant_time ON audit_events (tenant_id, time);

-- The head of each tenant's chain: the last seq and hash.
CREATE TABLE audit_heads (
    tenant_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

-- Where a tenant's chain starts after retention removed older events.
CREATE TABLE audit_bases (
    tenant_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    pruned_at INTEGER NOT NULL
) STRICT;

-- Signed checkpoints of chain heads, so that deleting the newest events is detected.
CREATE TABLE audit_checkpoints (
    tenant_id  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    signed_at  INTEGER NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
) STRICT;
