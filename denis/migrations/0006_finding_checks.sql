-- Which check a finding comes from (cover letter, own directory, patches apply, whitespace,
-- sign-off, subject tags, ...), so that a student is told before the deadline which checks
-- failed without their details (SPEC §10). NULL for findings recorded before checks were named.
ALTER TABLE findings ADD COLUMN check_name TEXT;
