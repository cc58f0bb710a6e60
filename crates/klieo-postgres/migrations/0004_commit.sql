-- Version 4: a journal commit as one statement. `klieo_commit` does what
-- a commit did in eight to fifteen round trips (the run's lock, its
-- checks, the run's row, the messages after the thread's last, the
-- episodes after the run's last) inside the statement's own transaction.
-- It returns NULL when the commit is in, else why it was refused, having
-- written nothing: 'cancelled:' and who cancelled the run, 'leased' (another
-- holder's lease is live), or 'episodes:' and how many the run holds (not
-- the number expected). Message and episode numbers given are relative:
-- 0 is the first of this commit.
CREATE FUNCTION klieo_commit(
    p_run TEXT, p_thread TEXT, p_pending TEXT, p_state TEXT, p_outcome TEXT,
    p_holder TEXT, p_expected BIGINT,
    p_roles TEXT[], p_tokens_before BIGINT[], p_tokens BIGINT[], p_messages TEXT[],
    p_kinds TEXT[], p_episodes TEXT[]
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_by TEXT;
    v_count BIGINT;
    v_seq BIGINT;
    v_total BIGINT;
BEGIN
    -- Locks in the order every writer takes them: the run, then the thread.
    PERFORM pg_advisory_xact_lock(hashtextextended('run:' || p_run, 0));
    SELECT outcome INTO v_by FROM klieo_runs WHERE run = p_run AND state = 'cancelled';
    IF FOUND THEN
        RETURN 'cancelled:' || COALESCE(v_by, '');
    END IF;
    IF p_holder IS NOT NULL AND EXISTS (
        SELECT 1 FROM klieo_leases WHERE run = p_run AND holder <> p_holder AND until_at > now()
    ) THEN
        RETURN 'leased';
    END IF;
    IF p_expected IS NOT NULL THEN
        SELECT count(*) INTO v_count FROM klieo_episodes WHERE run = p_run;
        IF v_count <> p_expected THEN
            RETURN 'episodes:' || v_count;
        END IF;
    END IF;
    INSERT INTO klieo_runs (run, thread, pending, state, outcome)
    VALUES (p_run, p_thread, p_pending, p_state, p_outcome)
    ON CONFLICT (run) DO UPDATE SET thread = excluded.thread, pending = excluded.pending,
        state = excluded.state, outcome = excluded.outcome;
    IF cardinality(p_messages) > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('thread:' || p_thread, 0));
        SELECT seq + 1, tokens_before + tokens INTO v_seq, v_total FROM klieo_messages
        WHERE thread = p_thread ORDER BY seq DESC LIMIT 1;
        IF NOT FOUND THEN
            v_seq := 0;
            v_total := 0;
        END IF;
        INSERT INTO klieo_messages (thread, seq, role, tokens_before, tokens, message)
        SELECT p_thread, v_seq + m.n - 1, m.role, v_total + m.before, m.tokens, m.message
        FROM unnest(p_roles, p_tokens_before, p_tokens, p_messages)
            WITH ORDINALITY AS m(role, before, tokens, message, n);
    END IF;
    IF cardinality(p_episodes) > 0 THEN
        SELECT COALESCE(max(seq) + 1, 0) INTO v_seq FROM klieo_episodes WHERE run = p_run;
        INSERT INTO klieo_episodes (run, seq, kind, episode)
        SELECT p_run, v_seq + e.n - 1, e.kind, e.episode
        FROM unnest(p_kinds, p_episodes) WITH ORDINALITY AS e(kind, episode, n);
    END IF;
    RETURN NULL;
END
$$;
