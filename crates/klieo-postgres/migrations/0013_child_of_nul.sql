-- Version 13: a child run whose `child_of` episode holds a NUL (its
-- call's id, which some providers let the model write, escaped in the
-- episode's JSON as `\u0000`) is listed under its parent. Version 10's
-- trigger cast the episode to `jsonb`, which refuses that escape, so the
-- child's first commit failed every time it was tried; the escape is read
-- as U+FFFD first, as version 3 reads a failed run's error.
SET LOCAL lock_timeout = '10s';
CREATE OR REPLACE FUNCTION klieo_set_parent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE klieo_runs
        SET parent = replace(NEW.episode, E'\\u0000', E'\\ufffd')::jsonb->>'parent'
        WHERE run = NEW.run;
    RETURN NULL;
END
$$;
