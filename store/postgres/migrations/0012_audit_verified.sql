-- How far each tenant's chain has been verified: the newest signed checkpoint a successful
-- verification confirmed, where the next incremental verification may start. seq 0 means
-- none.
CREATE TABLE audit_verified (
    tenant_id   text PRIMARY KEY,
    seq         bigint NOT NULL,
    hash        text NOT NULL,
    verified_at timestamptz NOT NULL
);
