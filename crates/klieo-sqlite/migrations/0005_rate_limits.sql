-- Version 5: rate limits shared by the processes on this file. Each
-- scope's requests and tokens left when last counted (at `at_ms`), and
-- until when a server paused it (milliseconds since the Unix epoch, by
-- the machine's clock; 0 when never).
CREATE TABLE rate_limits (
    scope           TEXT    NOT NULL PRIMARY KEY,
    requests        REAL    NOT NULL,
    tokens          REAL    NOT NULL,
    at_ms           INTEGER NOT NULL,
    paused_until_ms INTEGER NOT NULL
) WITHOUT ROWID;
