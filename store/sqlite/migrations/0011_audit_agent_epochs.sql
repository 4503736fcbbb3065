-- The ledger's per-agent index, clustered by epochs of 16,384 events (seq >> 14), so that
-- a commit rewrites a few leaves of it instead of one leaf for every agent in the commit.
-- Queries look an agent's events up epoch by epoch (store/sqlite/audit.go, auditEpochShift).
DROP INDEX audit_events_tenant_agent;
CREATE INDEX audit_events_tenant_epoch_agent ON audit_events (tenant_id, seq >> 14, agent_id, seq);
