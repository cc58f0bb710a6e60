-- Version 1: conversations and event logs.

-- One row per message of a thread, in the order appended. `tokens_before`
-- is the estimated token count of every earlier message of the thread, so
-- "the newest messages that fit N tokens" is one indexed range.
CREATE TABLE messages (
    thread        TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    role          TEXT    NOT NULL,
    tokens_before INTEGER NOT NULL,
    tokens        INTEGER NOT NULL,
    message       TEXT    NOT NULL, -- klieo_types::Message as JSON
    PRIMARY KEY (thread, seq)
) WITHOUT ROWID;

CREATE INDEX messages_by_tokens ON messages (thread, tokens_before);

-- One row per episode of a run, in the order recorded. A run id's text
-- sorts in the order ids were made.
CREATE TABLE episodes (
    run     TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    episode TEXT    NOT NULL, -- klieo_types::Episode as JSON
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
