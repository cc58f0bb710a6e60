-- Version 11: a commit and a claim of one run, one after the other. A
-- commit took the run's advisory lock, which a claim does not take, and
-- read the leases before its writes waited on the row the claim had
-- locked: a worker whose lease had lapsed got its commit in after another
-- worker had claimed the run. `klieo_commit` now locks the run's row
-- before it reads the leases (each statement of a function reads what was
-- committed before it began, so the claim's lease is seen). Its waits for
-- locks are bounded, for its transaction only: 30 s, then an error.
CREATE OR REPLACE FUNCTION klieo_commit(
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
    v_calls BIGINT;
    v_tools BIGINT;
    v_input BIGINT;
    v_output BIGINT;
    v_cost BIGINT;
BEGIN
    -- Locks in the order every writer takes them: the run, then the thread.
    PERFORM set_config('lock_timeout', '30s', true);
    PERFORM pg_advisory_xact_lock(hashtextextended('run:' || p_run, 0));
    -- The run's row too, which a claim locks as it leases the run: a claim
    -- under way finishes first (and its lease is then seen below), and a
    -- claim that comes later passes this run by.
    PERFORM 1 FROM klieo_runs WHERE run = p_run FOR UPDATE;
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
    SELECT count(*),
        COALESCE(sum(COALESCE((x.e->>'tool_calls')::BIGINT, 0)), 0),
        COALESCE(sum(COALESCE((x.e->'tokens'->>'input_tokens')::BIGINT,
                              (x.e->'spend'->>'input_tokens')::BIGINT, 0)), 0),
        COALESCE(sum(COALESCE((x.e->'tokens'->>'output_tokens')::BIGINT,
                              (x.e->'spend'->>'output_tokens')::BIGINT, 0)), 0),
        sum((x.e->'spend'->>'cost_micros')::BIGINT)
    INTO v_calls, v_tools, v_input, v_output, v_cost
    FROM (SELECT e::jsonb AS e FROM unnest(p_kinds, p_episodes) AS k(kind, e)
          WHERE k.kind = 'llm_call') AS x;
    INSERT INTO klieo_runs (run, thread, pending, state, outcome, model_calls, tool_calls,
        input_tokens, output_tokens, cost_micros, updated_at)
    VALUES (p_run, p_thread, p_pending, p_state, p_outcome, v_calls, v_tools, v_input,
        v_output, v_cost, now())
    ON CONFLICT (run) DO UPDATE SET thread = excluded.thread, pending = excluded.pending,
        state = excluded.state, outcome = excluded.outcome,
        model_calls = klieo_runs.model_calls + excluded.model_calls,
        tool_calls = klieo_runs.tool_calls + excluded.tool_calls,
        input_tokens = klieo_runs.input_tokens + excluded.input_tokens,
        output_tokens = klieo_runs.output_tokens + excluded.output_tokens,
        cost_micros = CASE WHEN excluded.cost_micros IS NULL THEN klieo_runs.cost_micros
            ELSE COALESCE(klieo_runs.cost_micros, 0) + excluded.cost_micros END,
        updated_at = excluded.updated_at;
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

