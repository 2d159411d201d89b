-- The course database (SPEC §3, §8, §9). Times: deadlines and *_at columns are Unix seconds,
-- except submissions.auth_time_us and gradeables.submitted_at, which keep the session's AUTH
-- time in Unix microseconds (deadlines are compared at that precision).

-- A NULL deadline has not passed: dummy assignments start with all three NULL, and triggering
-- one of their deadlines sets it to the trigger time.
CREATE TABLE assignments (
    name           TEXT PRIMARY KEY,
    initial_at     INTEGER,
    peer_review_at INTEGER,
    final_at       INTEGER,
    dummy          INTEGER NOT NULL CHECK (dummy IN (0, 1)),
    created_at     INTEGER NOT NULL
);

-- One row per processed SMTP session; its presence means "processed" (intake is exactly once).
CREATE TABLE submissions (
    submission_id   TEXT PRIMARY KEY,
    username        TEXT NOT NULL,
    auth_time_us    INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('patchset', 'review', 'discussion', 'other')),
    assignment      TEXT,
    component       TEXT CHECK (component IN ('initial', 'review1', 'review2', 'final')),
    status          TEXT NOT NULL,
    first_recipient TEXT NOT NULL,
    message_count   INTEGER NOT NULL,
    in_reply_to     TEXT,
    processed_at    INTEGER NOT NULL
);
CREATE INDEX submissions_by_user ON submissions (username, assignment, submission_id);

-- Patchsets and reviews that count for a grade.
CREATE TABLE gradeables (
    submission_id TEXT PRIMARY KEY REFERENCES submissions (submission_id),
    username      TEXT NOT NULL,
    assignment    TEXT NOT NULL,
    component     TEXT NOT NULL CHECK (component IN ('initial', 'review1', 'review2', 'final')),
    submitted_at  INTEGER NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('ok', 'warning', 'fatal'))
);
CREATE INDEX gradeables_by_assignment ON gradeables (assignment, component, username, submission_id);

-- The automated findings of a submission, in the order they were found.
CREATE TABLE findings (
    submission_id TEXT NOT NULL REFERENCES submissions (submission_id),
    seq           INTEGER NOT NULL,
    severity      TEXT NOT NULL CHECK (severity IN ('ok', 'warning', 'fatal')),
    message       TEXT NOT NULL,
    PRIMARY KEY (submission_id, seq)
);

-- Who reviews whom, filled at the initial deadline (issue 6).
CREATE TABLE peer_reviews (
    assignment TEXT NOT NULL,
    reviewer   TEXT NOT NULL,
    reviewee   TEXT NOT NULL,
    slot       INTEGER NOT NULL CHECK (slot IN (1, 2)),
    PRIMARY KEY (assignment, reviewer, slot),
    UNIQUE (assignment, reviewer, reviewee)
);

-- Self-service extensions (SPEC §10); written by the web and CLI in a later issue.
CREATE TABLE oopsies (
    username   TEXT NOT NULL,
    assignment TEXT NOT NULL,
    used_at    INTEGER NOT NULL,
    PRIMARY KEY (username, assignment)
);
