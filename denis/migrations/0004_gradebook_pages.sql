-- Gradebook pages and the grade distribution (SPEC §11).

-- A page of the instructors' gradebook reads its students' grades, reviewee counts and oopsies
-- by username range. grades_by_user and oopsies' primary key start with the username;
-- peer_reviews' primary key starts with the assignment, so it needs an index by reviewer.
CREATE INDEX peer_reviews_by_reviewer ON peer_reviews (reviewer, assignment);

-- The grade distribution counts every student's total: an aggregate over every grade, review
-- assignment and oopsie, too costly for each page view. The web keeps the last one it counted
-- along with this stamp, and counts again only once the stamp has changed. Every write to a
-- table a total depends on sets a new stamp in the same transaction, whichever process writes
-- (denis, web, CLI). Random rather than counted, so that a database restored from an older
-- backup does not bring back a stamp a running web has already seen with other data.
CREATE TABLE totals_stamp (stamp INTEGER NOT NULL);
INSERT INTO totals_stamp (stamp) VALUES (random());

CREATE TRIGGER grades_inserted AFTER INSERT ON grades
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER grades_updated AFTER UPDATE ON grades
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER grades_deleted AFTER DELETE ON grades
BEGIN UPDATE totals_stamp SET stamp = random(); END;

CREATE TRIGGER peer_reviews_inserted AFTER INSERT ON peer_reviews
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER peer_reviews_updated AFTER UPDATE ON peer_reviews
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER peer_reviews_deleted AFTER DELETE ON peer_reviews
BEGIN UPDATE totals_stamp SET stamp = random(); END;

CREATE TRIGGER oopsies_inserted AFTER INSERT ON oopsies
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER oopsies_updated AFTER UPDATE ON oopsies
BEGIN UPDATE totals_stamp SET stamp = random(); END;
CREATE TRIGGER oopsies_deleted AFTER DELETE ON oopsies
BEGIN UPDATE totals_stamp SET stamp = random(); END;
