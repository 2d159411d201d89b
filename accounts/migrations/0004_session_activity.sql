-- When each web session was last used and from which address it logged in, so operators and
-- students can see their sessions and end them (`coursemail user sessions`, the password page).
-- NULL for sessions made before these were recorded.
ALTER TABLE web_sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE web_sessions ADD COLUMN client TEXT;
