-- A deadline an instructor runs before its date counts as passed from that moment everywhere
-- (SPEC §10): the run moves the assignment's deadline to the time it ran, and keeps here the
-- date it had been scheduled for, so the dashboards can say "ran early". NULL for runs at or
-- after their date, and for dummy assignments.
ALTER TABLE deadline_runs ADD COLUMN scheduled_at INTEGER;
