-- Charging a call's rate limits and approval use in one round trip: the whole
-- check-and-charge runs server-side in one statement (and so one transaction). Rows are
-- locked in key order, so concurrent consumptions never deadlock. Times are Unix
-- microseconds; a rate log keeps the admission times inside the widest window charged
-- under its key, ascending.
CREATE FUNCTION kavach_consume(p_keys text[], p_max int[], p_window bigint[], p_now bigint, p_approval text)
RETURNS TABLE (ok boolean, retry_after bigint, approval_gone boolean)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    n int;
    oldest bigint;
    wait bigint := 0;
    gone boolean := false;
    usable boolean;
    k text;
    widest bigint;
BEGIN
    IF coalesce(array_length(p_keys, 1), 0) > 0 THEN
        INSERT INTO rate_logs (key, stamps)
            SELECT DISTINCT u, '{}'::bigint[] FROM unnest(p_keys) AS u ORDER BY 1
            ON CONFLICT (key) DO NOTHING;
        PERFORM 1 FROM rate_logs WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
        FOR i IN 1 .. array_length(p_keys, 1) LOOP
            SELECT count(*) INTO n FROM rate_logs r, unnest(r.stamps) AS s
                WHERE r.key = p_keys[i] AND s > p_now - p_window[i];
            IF n >= p_max[i] THEN
                -- The call that must leave the window first is the (n - max + 1)-th oldest.
                SELECT s INTO oldest FROM rate_logs r, unnest(r.stamps) AS s
                    WHERE r.key = p_keys[i] AND s > p_now - p_window[i]
                    ORDER BY s OFFSET n - p_max[i] LIMIT 1;
                wait := greatest(wait, oldest + p_window[i] - p_now, 1);
            END IF;
        END LOOP;
    END IF;
    IF p_approval <> '' THEN
        SELECT a.status = 'approved' AND a.uses_left > 0
               AND (a.grant_expires_at IS NULL OR a.grant_expires_at > to_timestamp(p_now / 1000000.0))
            INTO usable FROM approvals a WHERE a.id = p_approval FOR UPDATE;
        gone := NOT coalesce(usable, false);
    END IF;
    IF wait > 0 OR gone THEN
        RETURN QUERY SELECT false, wait, gone;
        RETURN;
    END IF;
    IF coalesce(array_length(p_keys, 1), 0) > 0 THEN
        FOR k, widest IN SELECT u.k, max(u.w) FROM unnest(p_keys, p_window) AS u(k, w) GROUP BY u.k ORDER BY u.k LOOP
            UPDATE rate_logs r SET stamps = coalesce((
                SELECT array_agg(s ORDER BY s) FROM unnest(r.stamps || p_now) AS s WHERE s > p_now - widest
            ), '{}'::bigint[]) WHERE r.key = k;
        END LOOP;
    END IF;
    IF p_approval <> '' THEN
        UPDATE approvals SET uses_left = uses_left - 1 WHERE id = p_approval;
    END IF;
    RETURN QUERY SELECT true, 0::bigint, false;
END
$$;
