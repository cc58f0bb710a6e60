-- Version 7: thread summaries. One row per summary of a thread's older
-- messages (which stay in `messages`): it is read in place of the
-- thread's messages before `through`, and takes up where the summary
-- before it stopped (`from_seq`, that summary's `through`; 0 for the
-- first). Keyed by where it takes up, so two summaries that extend the
-- same one cannot both be kept.
CREATE TABLE summaries (
    thread   TEXT    NOT NULL,
    from_seq INTEGER NOT NULL,
    through  INTEGER NOT NULL,
    text     TEXT    NOT NULL,
    PRIMARY KEY (thread, from_seq)
) WITHOUT ROWID;
