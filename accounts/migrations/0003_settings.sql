-- Course-wide settings that belong to the data root rather than to one process's
-- configuration, such as the mail domain every address was issued in (SPEC §3). Every service
-- reads accounts.db, so a setting here is seen by all of them, read-only mounts included.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- A database that already has users was made before the domain was recorded: its addresses
-- were issued in the configured hostname, or else in the old default, `localhost`. The code
-- records that one at the next start instead of the new default.
INSERT INTO settings (name, value)
SELECT 'legacy_mail_domain', 'localhost' WHERE EXISTS (SELECT 1 FROM users);
