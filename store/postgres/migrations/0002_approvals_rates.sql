-- Approval requests, rate-limit logs and the audit ledger. Arguments, approvers and via
-- are JSON documents.
CREATE TABLE approvals (
    id               text PRIMARY KEY,
    approval_key     text NOT NULL,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    agent_id         text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    owner_id         text NOT NULL,
    permission_id    text NOT NULL,
    action           text NOT NULL,
    resource         text NOT NULL,
    args_hash        text NOT NULL,
    arguments        jsonb,
    approvers        jsonb NOT NULL,
    grant_ttl_ns     bigint NOT NULL,
    status           text NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    decided_by       text NOT NULL,
    decided_at       timestamptz,
    reason           text NOT NULL,
    uses_left        integer NOT NULL,
    grant_expires_at timestamptz
);

-- At most one pending request per key: concurrent gated calls share it.
CREATE UNIQUE INDEX approvals_pending_key ON approvals (approval_key) WHERE status = 'pending';
CREATE INDEX approvals_key_created ON approvals (approval_key, created_at);
CREATE INDEX approvals_tenant_created ON approvals (tenant_id, created_at);
CREATE INDEX approvals_tenant_agent_created ON approvals (tenant_id, agent_id, created_at);

-- One sliding log per limit key: the admission times (Unix microseconds, ascending) of the
-- calls still inside the window. Rows are locked while a consumption checks and charges.
CREATE TABLE rate_logs (
    key    text PRIMARY KEY,
    stamps bigint[] NOT NULL
);
