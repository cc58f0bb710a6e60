-- Version 9: following runs as they change. A run someone follows (the
-- console's page of it, `klieo runs watch`) has `followed_until` in the
-- future; until then every change of its row (a commit, a claim, a
-- decision, a cancel, an assignment) notifies the channel
-- `klieo_run_changes` with the run's id as the transaction commits. A run
-- no one follows notifies no one, and its commits pay only the trigger's
-- `WHEN` test: a notifying commit holds the database's notification lock
-- until it has committed, which would put every worker's commits in one
-- line. The column is nullable without a default: adding it rewrites
-- nothing. Its lock on the table waits at most 10 s for the statements
-- running on it (a long report, say), so that workers are not queued
-- behind the migration for long; past that the migration fails, changes
-- nothing, and the next opening tries again.
SET LOCAL lock_timeout = '10s';
ALTER TABLE klieo_runs ADD COLUMN followed_until TIMESTAMPTZ;

CREATE FUNCTION klieo_notify_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('klieo_run_changes', NEW.run);
    RETURN NULL;
END
$$;

CREATE TRIGGER klieo_runs_changed AFTER INSERT OR UPDATE ON klieo_runs
    FOR EACH ROW WHEN (NEW.followed_until > now())
    EXECUTE FUNCTION klieo_notify_run_changed();
