-- Version 3: which worker drives a run, and until when (milliseconds
-- since the Unix epoch, by SQLite's clock).
CREATE TABLE leases (
    run      TEXT    NOT NULL PRIMARY KEY,
    holder   TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
) WITHOUT ROWID;
