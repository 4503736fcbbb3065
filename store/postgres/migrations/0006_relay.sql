-- How far each ledger relay (such as the Kafka relay) has published each tenant's chain:
-- the last seq it delivered. A position only ever moves forward. Leadership between relays
-- is a session advisory lock, so it needs no table.
CREATE TABLE relay_positions (
    relay     text NOT NULL,
    tenant_id text NOT NULL,
    seq       bigint NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (relay, tenant_id)
);
