-- Version 5: rate limits shared by every process on this database. Each
-- scope's requests and tokens left when last counted (at `at_ms`), and
-- until when a server paused it (milliseconds since the Unix epoch, by
-- the database server's clock; 0 when never).
CREATE TABLE klieo_rate_limits (
    scope           TEXT             NOT NULL PRIMARY KEY,
    requests        DOUBLE PRECISION NOT NULL,
    tokens          DOUBLE PRECISION NOT NULL,
    at_ms           BIGINT           NOT NULL,
    paused_until_ms BIGINT           NOT NULL
);
