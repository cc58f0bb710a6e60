-- Version 1: conversations, event logs, and the runs a journal writes for.

-- One row per message of a thread, in the order appended; `tokens_before`
-- is the estimated token count of every earlier message of the thread.
CREATE TABLE klieo_messages (
    thread        TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    role          TEXT   NOT NULL,
    tokens_before BIGINT NOT NULL,
    tokens        BIGINT NOT NULL,
    message       TEXT   NOT NULL, -- klieo_types::Message as JSON
    PRIMARY KEY (thread, seq)
);

CREATE INDEX klieo_messages_by_tokens ON klieo_messages (thread, tokens_before);

-- One row per episode of a run, in the order recorded. A run id's text
-- sorts in the order ids were made.
CREATE TABLE klieo_episodes (
    run     TEXT   NOT NULL,
    seq     BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    episode TEXT   NOT NULL, -- klieo_types::Episode as JSON
    PRIMARY KEY (run, seq)
);

-- One row per run written through a journal commit: its thread, and the
-- step whose tools had not all reported back (NULL when none).
CREATE TABLE klieo_runs (
    run     TEXT NOT NULL PRIMARY KEY,
    thread  TEXT NOT NULL,
    pending TEXT            -- klieo_types::PendingStep as JSON
);
