-- Version 6: the ledger of keys' spend. What each key's runs settled in a
-- period (its start, in seconds since the Unix epoch; 0 for all time),
-- written by the journal commit that records the spend; and each run's
-- reservation on a key, which lapses at `until_ms` (milliseconds since
-- the Unix epoch, by the machine's clock).
CREATE TABLE key_spend (
    key         TEXT    NOT NULL,
    period      INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    model_calls INTEGER NOT NULL,
    PRIMARY KEY (key, period)
) WITHOUT ROWID;

CREATE TABLE key_reservations (
    key         TEXT    NOT NULL,
    run         TEXT    NOT NULL,
    period      INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    model_calls INTEGER NOT NULL,
    until_ms    INTEGER NOT NULL,
    PRIMARY KEY (key, run)
) WITHOUT ROWID;
