-- Version 11: a commit and a claim of one run, one after the other. A
-- commit took the run's advisory lock, which a claim does not take, and
-- read the leases before its writes waited on the row the claim had
-- locked: a worker whose lease had lapsed got its commit in after another
-- worker had claimed the run. `klieo_commit` now locks the run's row
-- before it reads the leases (each statement of a function reads what was
-- committed before it began, so the claim's lease is seen). Its waits for
-- locks are bounded, for its transaction only: 30 s, then an error; and
-- so are the settling commit's, whose key lock comes first.
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
    PERFORM set_config('idle_in_transaction_session_timeout', '60s', true);
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

CREATE OR REPLACE FUNCTION klieo_commit_settling(
    p_run TEXT, p_thread TEXT, p_pending TEXT, p_state TEXT, p_outcome TEXT,
    p_holder TEXT, p_expected BIGINT,
    p_roles TEXT[], p_tokens_before BIGINT[], p_tokens BIGINT[], p_messages TEXT[],
    p_kinds TEXT[], p_episodes TEXT[],
    p_key TEXT, p_period BIGINT, p_spent_tokens BIGINT, p_spent_cost BIGINT,
    p_spent_calls BIGINT
) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_refused TEXT;
    v_max CONSTANT BIGINT := 9223372036854775807;
BEGIN
    -- Bounded waits, as `klieo_commit`'s: the key's lock comes first.
    PERFORM set_config('lock_timeout', '30s', true);
    PERFORM set_config('idle_in_transaction_session_timeout', '60s', true);
    IF p_spent_tokens <> 0 OR p_spent_cost <> 0 OR p_spent_calls <> 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('key:' || p_key, 0));
        IF NOT EXISTS (
            SELECT 1 FROM klieo_key_reservations
            WHERE key = p_key AND run = p_run AND until_at > clock_timestamp()
        ) THEN
            RETURN 'lapsed';
        END IF;
    END IF;
    v_refused := klieo_commit(p_run, p_thread, p_pending, p_state, p_outcome, p_holder,
        p_expected, p_roles, p_tokens_before, p_tokens, p_messages, p_kinds, p_episodes);
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;
    DELETE FROM klieo_key_reservations WHERE key = p_key AND run = p_run;
    INSERT INTO klieo_key_spend (key, period, tokens, cost_micros, model_calls)
    VALUES (p_key, p_period, p_spent_tokens, p_spent_cost, p_spent_calls)
    ON CONFLICT (key, period) DO UPDATE SET
        tokens = CASE WHEN klieo_key_spend.tokens > v_max - excluded.tokens THEN v_max
            ELSE klieo_key_spend.tokens + excluded.tokens END,
        cost_micros = CASE WHEN klieo_key_spend.cost_micros > v_max - excluded.cost_micros
            THEN v_max ELSE klieo_key_spend.cost_micros + excluded.cost_micros END,
        model_calls = CASE WHEN klieo_key_spend.model_calls > v_max - excluded.model_calls
            THEN v_max ELSE klieo_key_spend.model_calls + excluded.model_calls END;
    RETURN NULL;
END
$$;
