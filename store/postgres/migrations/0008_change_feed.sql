-- Every committed change to an agent or a delegation is announced on a channel named after
-- the schema, so that every instance sharing the database recompiles what changed. NOTIFY
-- inside a transaction is delivered only if the transaction commits.
CREATE FUNCTION kavach_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kavach_changes_' || current_schema(), TG_ARGV[0] || ':' || NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER agents_changed AFTER INSERT OR UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION kavach_notify_change('agent');

CREATE TRIGGER delegations_changed AFTER INSERT OR UPDATE ON delegations
    FOR EACH ROW EXECUTE FUNCTION kavach_notify_change('delegation');
