-- How far each ledger relay (such as the Kafka relay) has published each tenant's chain:
-- the last seq it delivered. A position only ever moves forward.
CREATE TABLE relay_positions (
    relay     TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    seq       INTEGER NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (relay, tenant_id)
) STRICT;
