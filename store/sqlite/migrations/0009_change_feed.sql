-- Every committed change to an agent (its tokens included: a rotation updates the agent),
-- a delegation or an API key is logged here by triggers, inside the writing transaction,
-- so that every process on the same file (a server beside a CLI) applies it: the same
-- announcements the Postgres backend makes with NOTIFY. Old rows are pruned.
CREATE TABLE changes (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    at   INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE TRIGGER agents_inserted AFTER INSERT ON agents
BEGIN INSERT INTO changes (kind, id) VALUES ('agent', NEW.id); END;

CREATE TRIGGER agents_updated AFTER UPDATE ON agents
BEGIN INSERT INTO changes (kind, id) VALUES ('agent', NEW.id); END;

CREATE TRIGGER delegations_inserted AFTER INSERT ON delegations
BEGIN INSERT INTO changes (kind, id) VALUES ('delegation', NEW.id); END;

CREATE TRIGGER delegations_updated AFTER UPDATE ON delegations
BEGIN INSERT INTO changes (kind, id) VALUES ('delegation', NEW.id); END;

CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
BEGIN INSERT INTO changes (kind, id) VALUES ('api_key', NEW.id); END;
