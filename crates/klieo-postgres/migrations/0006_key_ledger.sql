-- Version 6: the ledger of keys' spend. What each key's runs settled in a
-- period (its start, in seconds since the Unix epoch; 0 for all time),
-- and each run's reservation on a key, which lapses at `until_at` (by the
-- database server's clock). Reservations are taken under the key's
-- advisory lock ('key:' and the key), one at a time.
CREATE TABLE klieo_key_spend (
    key         TEXT   NOT NULL,
    period      BIGINT NOT NULL,
    tokens      BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    model_calls BIGINT NOT NULL,
    PRIMARY KEY (key, period)
);

CREATE TABLE klieo_key_reservations (
    key         TEXT        NOT NULL,
    run         TEXT        NOT NULL,
    period      BIGINT      NOT NULL,
    tokens      BIGINT      NOT NULL,
    cost_micros BIGINT      NOT NULL,
    model_calls BIGINT      NOT NULL,
    until_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, run)
);

-- `klieo_commit`, and, when it is in, the key's spend settled in the same
-- transaction: added to the period's row (saturating), the run's
-- reservation dropped. Spend is settled only against the run's live
-- reservation, checked under the key's lock by the clock as it runs (as
-- reservations are taken), so a call that outlasted its reservation
-- cannot settle into an allowance another run took meanwhile: the commit
-- is then refused, 'lapsed', having written nothing. Otherwise returns
-- what `klieo_commit` returns.
CREATE FUNCTION klieo_commit_settling(
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
