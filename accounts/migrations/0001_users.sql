-- Users of the course: students and instructors (SPEC §11).
-- password_hash is an argon2id PHC string, NULL while the user awaits registration.
CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    full_name     TEXT NOT NULL,
    student_id    TEXT UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('student', 'instructor')),
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);
