//! Settings of the data root itself, kept in `accounts.db` so that every service (each of which
//! reads it, some from a read-only mount) sees the same value: above all the course's mail
//! domain (SPEC §3), which is recorded at the first start and changed only on purpose.

use rusqlite::{OptionalExtension, params};

use crate::db::Accounts;
use crate::error::AccountsError;

/// The setting that holds the mail domain.
const MAIL_DOMAIN: &str = "mail_domain";

/// A mail domain: lowercase DNS labels (letters, digits, `-`, not at either end of a label)
/// joined by dots, at most 253 characters. Only a valid one can be recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailDomain(String);

/// A mail domain that is not a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a mail domain: use DNS labels of letters, digits and '-' joined by dots, such as \
     course.example.org"
)]
pub struct InvalidMailDomain(pub String);

impl MailDomain {
    /// Validates `text`, lowercasing it (DNS names compare case-insensitively).
    pub fn parse(text: &str) -> Result<MailDomain, InvalidMailDomain> {
        let name = text.trim().to_ascii_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(InvalidMailDomain(text.to_string()));
        }
        Ok(MailDomain(name))
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it has a dot: git send-email refuses addresses in a domain without one
    /// (`unable to extract a valid address`), so students could not send to it.
    pub fn has_dot(&self) -> bool {
        self.0.contains('.')
    }
}

impl std::fmt::Display for MailDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Accounts {
    /// The recorded mail domain; `None` for a data root that has not recorded one yet.
    pub fn mail_domain(&self) -> Result<Option<MailDomain>, AccountsError> {
        let value: Option<String> = self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
                .query_row([MAIL_DOMAIN], |r| r.get(0))
                .optional()?)
        })?;
        value
            .map(|v| {
                MailDomain::parse(&v).map_err(|_| AccountsError::CorruptRow {
                    what: "mail domain",
                    value: v,
                })
            })
            .transpose()
    }

    /// Records `domain` as the data root's mail domain, replacing any earlier one.
    pub fn set_mail_domain(&self, domain: &MailDomain) -> Result<(), AccountsError> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                params![MAIL_DOMAIN, domain.as_str()],
            )?;
            Ok(())
        })
    }

    /// The default domain of the version that made this data root, when that version did not
    /// record one and had already issued addresses (marked when the settings table was added):
    /// those addresses are in it, unless a hostname was configured.
    pub fn legacy_mail_domain(&self) -> Result<Option<MailDomain>, AccountsError> {
        let value: Option<String> = self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM settings WHERE name = 'legacy_mail_domain'")?
                .query_row([], |r| r.get(0))
                .optional()?)
        })?;
        Ok(value.and_then(|v| MailDomain::parse(&v).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_dns_names_lowercased() {
        assert_eq!(
            MailDomain::parse(" Course.Example.ORG ").unwrap().as_str(),
            "course.example.org"
        );
        assert!(MailDomain::parse("localhost").is_ok());
        assert!(!MailDomain::parse("localhost").unwrap().has_dot());
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "a/b",
            "a.b.",
            "ä.example",
            "x@y",
        ] {
            assert!(MailDomain::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(MailDomain::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn a_database_with_users_from_before_the_settings_table_is_marked_legacy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(include_str!("../migrations/0001_users.sql"))
                .unwrap();
            conn.execute_batch(include_str!("../migrations/0002_web_sessions.sql"))
                .unwrap();
            conn.execute(
                "INSERT INTO users (username, full_name, role, created_at)
                 VALUES ('a', 'A', 'student', 1)",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let accounts = Accounts::open(&path).unwrap();
        assert_eq!(accounts.mail_domain().unwrap(), None);
        assert_eq!(
            accounts.legacy_mail_domain().unwrap().unwrap().as_str(),
            "localhost"
        );
        let fresh = Accounts::open(&dir.path().join("fresh.db")).unwrap();
        assert_eq!(fresh.legacy_mail_domain().unwrap(), None);
    }

    #[test]
    fn the_domain_is_recorded_once_and_replaced_only_when_set_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.db");
        let accounts = Accounts::open(&path).unwrap();
        assert_eq!(accounts.mail_domain().unwrap(), None);
        let first = MailDomain::parse("course.example.org").unwrap();
        accounts.set_mail_domain(&first).unwrap();
        drop(accounts);
        let reader = Accounts::open_read_only(&path).unwrap();
        assert_eq!(reader.mail_domain().unwrap(), Some(first));
        let accounts = Accounts::open(&path).unwrap();
        let second = MailDomain::parse("other.example.org").unwrap();
        accounts.set_mail_domain(&second).unwrap();
        assert_eq!(reader.mail_domain().unwrap(), Some(second));
    }
}
