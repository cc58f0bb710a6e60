-- Version 12: a settling commit of a cancelled run whose reservation
-- lapsed is refused as cancelled, as every other store refuses it (it
-- said `lapsed`, a conflict: the run stopped to be resumed, where a
-- cancel ends it). Version 11's function is kept under another name and
-- asked first; only its `lapsed` is looked at again.
ALTER FUNCTION klieo_commit_settling(
    TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, BIGINT,
    TEXT[], BIGINT[], BIGINT[], TEXT[], TEXT[], TEXT[],
    TEXT, BIGINT, BIGINT, BIGINT, BIGINT
) RENAME TO klieo_commit_settling_v11;

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
    v_by TEXT;
BEGIN
    v_refused := klieo_commit_settling_v11(p_run, p_thread, p_pending, p_state, p_outcome,
        p_holder, p_expected, p_roles, p_tokens_before, p_tokens, p_messages, p_kinds,
        p_episodes, p_key, p_period, p_spent_tokens, p_spent_cost, p_spent_calls);
    IF v_refused = 'lapsed' THEN
        -- Nothing was written: a cancel says so, whatever became of the
        -- reservation.
        SELECT outcome INTO v_by FROM klieo_runs WHERE run = p_run AND state = 'cancelled';
        IF FOUND THEN
            RETURN 'cancelled:' || COALESCE(v_by, '');
        END IF;
    END IF;
    RETURN v_refused;
END
$$;
