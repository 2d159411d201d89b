-- Web dashboard sessions. Only the blake3 hash of the cookie token is stored, so a leaked
-- database (or backup) does not let anyone log in as a user.
CREATE TABLE web_sessions (
    token_hash BLOB PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_by_username ON web_sessions (username);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
