-- Version 9: the tree of runs. A child run (an agent used as a tool)
-- names the run whose call started it; kept from the child's `child_of`
-- episode in the commit that writes it, and indexed so that a run's
-- children are one range read. No released version wrote child runs, so
-- there is nothing to fill in.
ALTER TABLE runs ADD COLUMN parent TEXT;

CREATE INDEX runs_by_parent ON runs (parent, run) WHERE parent IS NOT NULL;
