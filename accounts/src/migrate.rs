//! The accounts schema: numbered migrations (`accounts/migrations/NNNN_*.sql`), applied by the
//! shared [`database`] crate and tracked in `PRAGMA user_version`.

use database::Schema;

/// The migrations, in order. Append only: never edit or reorder one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_users.sql"),
    include_str!("../migrations/0002_web_sessions.sql"),
    include_str!("../migrations/0003_settings.sql"),
    include_str!("../migrations/0004_session_activity.sql"),
];

/// The accounts database's schema.
pub(crate) const SCHEMA: Schema = Schema {
    name: "accounts",
    migrations: MIGRATIONS,
};

/// The schema version this code reads and writes.
pub const LATEST_VERSION: i64 = SCHEMA.latest();

#[cfg(test)]
mod tests {
    use super::*;
    use database::DbError;
    use database::migrate::version;
    use rusqlite::Connection;
    use std::path::Path;

    fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, DbError> {
        SCHEMA.migrate(conn, path)
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn fresh_database_reaches_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION);
        assert_eq!(tables(&conn), ["settings", "users", "web_sessions"]);
    }

    #[test]
    fn migrating_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        conn.execute(
            "INSERT INTO users (username, full_name, role, created_at) VALUES ('a', 'A', 'student', 1)",
            [],
        )
        .unwrap();
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            LATEST_VERSION
        );
        let users: i64 = conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(users, 1);
    }

    #[test]
    fn partially_migrated_database_gets_only_the_missing_steps() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        assert_eq!(migrate(&mut conn, Path::new(":memory:")).unwrap(), 1);
        assert_eq!(tables(&conn), ["settings", "users", "web_sessions"]);
    }

    #[test]
    fn newer_database_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, Path::new("x.db")).unwrap_err();
        assert!(matches!(err, DbError::SchemaTooNew { .. }));
        assert!(err.to_string().contains("upgrade coursemail"), "{err}");
        assert_eq!(version(&conn).unwrap(), LATEST_VERSION + 1);
        assert!(tables(&conn).is_empty());
    }
}
