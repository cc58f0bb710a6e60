-- Version 2: which worker drives a run, and until when (by the server's
-- clock, so workers on many machines agree).
CREATE TABLE klieo_leases (
    run      TEXT        NOT NULL PRIMARY KEY,
    holder   TEXT        NOT NULL,
    until_at TIMESTAMPTZ NOT NULL
);
