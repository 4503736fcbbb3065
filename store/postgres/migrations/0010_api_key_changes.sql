-- Instances keep the API keys they have resolved in memory: every committed change to a
-- key (its revocation) is announced on the change channel, kind "api_key", so that each
-- instance forgets the key at once. New keys are not announced: nothing holds them yet.
CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION kavach_notify_change('api_key');
