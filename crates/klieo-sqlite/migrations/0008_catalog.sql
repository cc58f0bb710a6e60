-- Version 8: the catalog of runs. Beside each run, what it has done (its
-- model calls, the tool calls they asked for, their tokens and, when
-- priced, their cost in millionths of a US dollar), added in each
-- commit's transaction, and when it last changed (milliseconds since the
-- Unix epoch, by SQLite's clock). Indexed for the newest runs first by
-- status, by agent, and by both; a run id's text sorts in the order ids
-- were made.
ALTER TABLE runs ADD COLUMN model_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tool_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cost_micros INTEGER;
ALTER TABLE runs ADD COLUMN updated_ms INTEGER;

CREATE INDEX runs_by_state ON runs (state, run);
-- A submit numbers its run after the last (`MAX(seq)`): by this index, not
-- by reading every run (which made a submit slower the more runs a store
-- held: 100,000 runs took 220 s to submit and write, 2,200 a second).
CREATE INDEX runs_by_seq ON runs (seq);
CREATE INDEX runs_by_agent ON runs (agent, run);
CREATE INDEX runs_by_agent_state ON runs (agent, state, run);

-- Runs written before this version: summed from their logs, as
-- `klieo_types::RunTally` sums (reported tokens, else a budget's count).
UPDATE runs SET
    model_calls = t.calls, tool_calls = t.tools, input_tokens = t.input,
    output_tokens = t.output, cost_micros = t.cost
FROM (
    SELECT run,
        COUNT(*) AS calls,
        SUM(COALESCE(json_extract(episode, '$.tool_calls'), 0)) AS tools,
        SUM(COALESCE(json_extract(episode, '$.tokens.input_tokens'),
                     json_extract(episode, '$.spend.input_tokens'), 0)) AS input,
        SUM(COALESCE(json_extract(episode, '$.tokens.output_tokens'),
                     json_extract(episode, '$.spend.output_tokens'), 0)) AS output,
        SUM(json_extract(episode, '$.spend.cost_micros')) AS cost
    FROM episodes WHERE kind = 'llm_call' GROUP BY run
) AS t
WHERE runs.run = t.run;
