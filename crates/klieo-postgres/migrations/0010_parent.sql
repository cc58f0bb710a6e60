-- Version 10: the tree of runs. A child run (an agent used as a tool)
-- names the run whose call started it, set from its `child_of` episode
-- as `klieo_commit` inserts it (a trigger whose `WHEN` passes every other
-- kind of episode at no cost), and indexed so that a run's children are
-- one range read. No released version wrote child runs, so there is
-- nothing to fill in.
SET LOCAL lock_timeout = '10s';
ALTER TABLE klieo_runs ADD COLUMN parent TEXT;

CREATE INDEX klieo_runs_by_parent ON klieo_runs (parent, run COLLATE "C")
    WHERE parent IS NOT NULL;

CREATE FUNCTION klieo_set_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE klieo_runs SET parent = NEW.episode::jsonb->>'parent' WHERE run = NEW.run;
    RETURN NULL;
END
$$;

CREATE TRIGGER klieo_episodes_child_of AFTER INSERT ON klieo_episodes
    FOR EACH ROW WHEN (NEW.kind = 'child_of')
    EXECUTE FUNCTION klieo_set_parent();
