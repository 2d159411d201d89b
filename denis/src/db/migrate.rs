//! The course schema: numbered migrations (`denis/migrations/NNNN_*.sql`), applied by the
//! shared [`database`] crate and tracked in `PRAGMA user_version`.

use database::Schema;

/// The migrations, in order. Append only: never edit or reorder one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_course.sql"),
    include_str!("../../migrations/0002_deadlines_grades.sql"),
    include_str!("../../migrations/0003_requests.sql"),
    include_str!("../../migrations/0004_gradebook_pages.sql"),
    include_str!("../../migrations/0005_early_deadlines.sql"),
    include_str!("../../migrations/0006_finding_checks.sql"),
];

/// The course database's schema.
pub(crate) const SCHEMA: Schema = Schema {
    name: "course",
    migrations: MIGRATIONS,
};

/// The schema version this code reads and writes.
pub const LATEST_VERSION: i64 = SCHEMA.latest();

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use std::path::Path;

    fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, database::DbError> {
        SCHEMA.migrate(conn, path)
    }

    #[test]
    fn fresh_database_gets_every_table_and_a_second_run_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 0);
        let tables: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            tables,
            [
                "assignments",
                "deadline_runs",
                "findings",
                "gradeables",
                "grades",
                "oopsies",
                "peer_reviews",
                "requests",
                "submissions",
                "totals_stamp"
            ]
        );
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            LATEST_VERSION
        );
    }
}
