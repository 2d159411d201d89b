-- Deadline runs and grades (SPEC §9, §10; issue 6). Times are Unix seconds.

-- One row per (assignment, deadline) ever started. The row is the claim: a runner inserts it
-- in an IMMEDIATE transaction while holding course/deadlines.lock, so two runners never both
-- process a deadline; `finished_at IS NULL` under that lock means the runner crashed, and the
-- next one resumes (every step of a run is idempotent). The counts are the run's summary.
CREATE TABLE deadline_runs (
    assignment  TEXT NOT NULL,
    component   TEXT NOT NULL CHECK (component IN ('initial', 'peer-review', 'final')),
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 1,
    delinquent  INTEGER,
    released    INTEGER,
    allowed     INTEGER,
    auto_zeroed INTEGER,
    summary     TEXT,
    UNIQUE (assignment, component)
);

-- One score per (assignment, component, student). `automatic` rows are the zeros deadlines
-- give for missing or fatal work: they are inserted only where no row exists, so they never
-- replace an instructor's grade, and an instructor's grade replaces them.
CREATE TABLE grades (
    assignment TEXT NOT NULL,
    component  TEXT NOT NULL CHECK (component IN ('initial', 'review1', 'review2', 'final')),
    username   TEXT NOT NULL,
    score      INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    feedback   TEXT NOT NULL,
    automatic  INTEGER NOT NULL CHECK (automatic IN (0, 1)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (assignment, component, username)
);
CREATE INDEX grades_by_user ON grades (username, assignment);
