-- Version 3: the queue. Each run's state beside its journal (`state`, and
-- `outcome`: the answer, the error, or who cancelled it), and for a
-- submitted run how it was submitted: the agent, the user's message, the
-- idempotency key, the earliest start (by the server's clock) and its
-- place in line (`seq`).
ALTER TABLE klieo_runs ADD COLUMN state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE klieo_runs ADD COLUMN outcome TEXT;
ALTER TABLE klieo_runs ADD COLUMN agent TEXT;
ALTER TABLE klieo_runs ADD COLUMN prompt TEXT;
ALTER TABLE klieo_runs ADD COLUMN idem_key TEXT;
ALTER TABLE klieo_runs ADD COLUMN not_before TIMESTAMPTZ;
ALTER TABLE klieo_runs ADD COLUMN seq BIGINT;

CREATE SEQUENCE klieo_runs_seq;
CREATE UNIQUE INDEX klieo_runs_by_key ON klieo_runs (idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX klieo_runs_in_line ON klieo_runs (state, seq) WHERE agent IS NOT NULL;

-- Runs written before this version take the state their log ends in (a
-- completed run's answer was not kept apart then: its text is empty). A
-- NUL an error holds (escaped in the episode's JSON) becomes U+FFFD, as
-- the store keeps it in `outcome`: `->>` cannot make text of it, and the
-- migration would fail every time. (Mended after it shipped: nothing
-- records a migration's text, and a database past it never runs it.)
UPDATE klieo_runs r SET
    state = last.kind,
    outcome = CASE WHEN last.kind = 'failed'
        THEN replace(last.episode, E'\\u0000', E'\\ufffd')::json ->> 'error' END
FROM (
    SELECT DISTINCT ON (run) run, kind, episode
    FROM klieo_episodes ORDER BY run, seq DESC
) last
WHERE last.run = r.run AND last.kind IN ('completed', 'failed', 'suspended');
