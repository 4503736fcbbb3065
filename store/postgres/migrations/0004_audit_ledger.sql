-- The audit ledger: one hash chain per tenant. seq and prev_hash are assigned in commit
-- order under a per-tenant advisory lock; hash = SHA-256(prev_hash, canonical event).
-- arguments and via hold the exact JSON text that was hashed (text, not jsonb, which
-- would normalise it).
CREATE TABLE audit_events (
    tenant_id   text NOT NULL,
    seq         bigint NOT NULL,
    id          text NOT NULL UNIQUE,
    time        timestamptz NOT NULL,
    kind        text NOT NULL,
    agent_id    text NOT NULL,
    owner_id    text NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    resource    text NOT NULL,
    arguments   text,
    result      text NOT NULL,
    code        text NOT NULL,
    reason      text NOT NULL,
    duration_ns bigint NOT NULL,
    ip          text NOT NULL,
    user_agent  text NOT NULL,
    grant_id    text NOT NULL,
    via         text NOT NULL,
    approval_id text NOT NULL,
    revision    text NOT NULL,
    prev_hash   text NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE INDEX audit_events_tenant_agent ON audit_events (tenant_id, agent_id, seq);
CREATE INDEX audit_events_tenant_time ON audit_events (tenant_id, time);

CREATE TABLE audit_heads (
    tenant_id text PRIMARY KEY,
    seq       bigint NOT NULL,
    hash      text NOT NULL
);

CREATE TABLE audit_bases (
    tenant_id text PRIMARY KEY,
    seq       bigint NOT NULL,
    prev_hash text NOT NULL,
    pruned_at timestamptz NOT NULL
);

CREATE TABLE audit_checkpoints (
    tenant_id  text NOT NULL,
    seq        bigint NOT NULL,
    hash       text NOT NULL,
    signed_at  timestamptz NOT NULL,
    public_key text NOT NULL,
    signature  text NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
