-- Version 2: the runs a journal writes for, with their pending step.

-- One row per run written through `Journal::commit`: the thread it talks
-- on, and the step whose tools were asked for but whose results are not
-- in the thread yet (NULL when there is none).
CREATE TABLE runs (
    run     TEXT NOT NULL PRIMARY KEY,
    thread  TEXT NOT NULL,
    pending TEXT              -- klieo_types::PendingStep as JSON
) WITHOUT ROWID;
