-- The W3C trace id (32 lowercase hex digits) of the request that led to an event; NULL for
-- events without one, and for every event recorded before trace ids were kept. The hash
-- covers it only when it is set, so older events verify as they always have.
ALTER TABLE audit_events ADD COLUMN trace_id TEXT;

CREATE INDEX audit_events_tenant_trace ON audit_events (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
