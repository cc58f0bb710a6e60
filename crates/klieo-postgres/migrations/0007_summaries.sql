-- Version 7: thread summaries. One row per summary of a thread's older
-- messages (which stay in `klieo_messages`): it is read in place of the
-- thread's messages before `through`, and takes up where the summary
-- before it stopped (`from_seq`, that summary's `through`; 0 for the
-- first). Keyed by where it takes up, so of two writers that extend the
-- same summary at once, the second's insert is refused.
CREATE TABLE klieo_summaries (
    thread   TEXT   NOT NULL,
    from_seq BIGINT NOT NULL,
    through  BIGINT NOT NULL,
    text     TEXT   NOT NULL,
    PRIMARY KEY (thread, from_seq)
);
