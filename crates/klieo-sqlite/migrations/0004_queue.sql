-- Version 4: the queue. Each run's state beside its journal (`state`, and
-- `outcome`: the answer, the error, or who cancelled it), and for a
-- submitted run how it was submitted: the agent, the user's message, the
-- idempotency key, the earliest start (milliseconds since the Unix epoch)
-- and its place in line (`seq`).
ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE runs ADD COLUMN outcome TEXT;
ALTER TABLE runs ADD COLUMN agent TEXT;
ALTER TABLE runs ADD COLUMN prompt TEXT;
ALTER TABLE runs ADD COLUMN idem_key TEXT;
ALTER TABLE runs ADD COLUMN not_before_ms INTEGER;
ALTER TABLE runs ADD COLUMN seq INTEGER;

CREATE UNIQUE INDEX runs_by_key ON runs (idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX runs_in_line ON runs (state, seq) WHERE agent IS NOT NULL;

-- Runs written before this version take the state their log ends in (a
-- completed run's answer was not kept apart then: its text is empty).
UPDATE runs SET
    state = (SELECT kind FROM episodes e WHERE e.run = runs.run ORDER BY seq DESC LIMIT 1),
    outcome = (SELECT json_extract(episode, '$.error') FROM episodes e
               WHERE e.run = runs.run ORDER BY seq DESC LIMIT 1)
WHERE (SELECT kind FROM episodes e WHERE e.run = runs.run ORDER BY seq DESC LIMIT 1)
      IN ('completed', 'failed', 'suspended');
