-- Version 12: a settling commit of a cancelled run whose reservation
-- lapsed is refused as cancelled, as every other store refuses it (it
-- said `lapsed`, a conflict: the run stopped to be resumed, where a
-- cancel ends it). Only `klieo_commit_settling` changes.
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
    v_by TEXT;
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
            -- A cancelled run is refused as such, as `klieo_commit` would,
            -- whatever became of its reservation.
            SELECT outcome INTO v_by FROM klieo_runs WHERE run = p_run AND state = 'cancelled';
            IF FOUND THEN
                RETURN 'cancelled:' || COALESCE(v_by, '');
            END IF;
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
