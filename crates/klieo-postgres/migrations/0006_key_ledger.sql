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
-- transaction: added to the period's row, the run's reservation dropped.
-- Returns what `klieo_commit` returns.
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
BEGIN
    v_refused := klieo_commit(p_run, p_thread, p_pending, p_state, p_outcome, p_holder,
        p_expected, p_roles, p_tokens_before, p_tokens, p_messages, p_kinds, p_episodes);
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;
    DELETE FROM klieo_key_reservations WHERE key = p_key AND run = p_run;
    INSERT INTO klieo_key_spend (key, period, tokens, cost_micros, model_calls)
    VALUES (p_key, p_period, p_spent_tokens, p_spent_cost, p_spent_calls)
    ON CONFLICT (key, period) DO UPDATE SET
        tokens = klieo_key_spend.tokens + excluded.tokens,
        cost_micros = klieo_key_spend.cost_micros + excluded.cost_micros,
        model_calls = klieo_key_spend.model_calls + excluded.model_calls;
    RETURN NULL;
END
$$;
