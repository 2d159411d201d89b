-- Instructor requests (SPEC §3; issue 7): the web never writes the journal, so lifting a
-- restriction or triggering a deadline from the web records a row here, and denis's scheduler
-- carries it out within one poll interval. `done_at IS NULL` means pending; the outcome says
-- what happened ('done' or the error), so the instructor sees it on the web. Times are Unix
-- seconds. Carrying out a request twice (a crash before `done_at` is set) is harmless: lifting
-- and triggering are idempotent.
CREATE TABLE requests (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('lift', 'trigger')),
    username     TEXT,
    assignment   TEXT,
    deadline     TEXT CHECK (deadline IS NULL OR deadline IN ('initial', 'peer-review', 'final')),
    requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    done_at      INTEGER,
    outcome      TEXT,
    CHECK ((kind = 'lift' AND username IS NOT NULL)
        OR (kind = 'trigger' AND assignment IS NOT NULL AND deadline IS NOT NULL))
);

CREATE INDEX requests_pending ON requests (id) WHERE done_at IS NULL;
