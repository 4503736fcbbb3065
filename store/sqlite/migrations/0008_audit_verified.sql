-- How far each tenant's chain has been verified: the newest signed checkpoint a successful
-- verification confirmed, where the next incremental verification may start. seq 0 means
-- none. Times are Unix microseconds.
CREATE TABLE audit_verified (
    tenant_id   TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    verified_at INTEGER NOT NULL
) STRICT;
