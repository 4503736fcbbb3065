-- Approval requests, rate-limit logs and the audit ledger. Times are Unix microseconds
-- (UTC); arguments, approvers and via are JSON documents.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    approval_key     TEXT NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    agent_id         TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    owner_id         TEXT NOT NULL,
    permission_id    TEXT NOT NULL,
    action           TEXT NOT NULL,
    resource         TEXT NOT NULL,
    args_hash        TEXT NOT NULL,
    arguments        TEXT,
    approvers        TEXT NOT NULL,
    grant_ttl_ns     INTEGER NOT NULL,
    status           TEXT NOT NULL,
    expires_at       INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    decided_by       TEXT NOT NULL,
    decided_at       INTEGER,
    reason           TEXT NOT NULL,
    uses_left        INTEGER NOT NULL,
    grant_expires_at INTEGER
) STRICT;

-- At most one pending request per key: concurrent gated calls share it.
CREATE UNIQUE INDEX approvals_pending_key ON approvals (approval_key) WHERE status = 'pending';
CREATE INDEX approvals_key_created ON approvals (approval_key, created_at);
CREATE INDEX approvals_tenant_created ON approvals (tenant_id, created_at);
CREATE INDEX approvals_tenant_agent_created ON approvals (tenant_id, agent_id, created_at);

-- One sliding log per limit key: the admission times (little-endian int64 microseconds,
-- ascending) of the calls still inside the window.
CREATE TABLE rate_logs (
    key    TEXT PRIMARY KEY,
    stamps BLOB NOT NULL
) STRICT, WITHOUT ROWID;
