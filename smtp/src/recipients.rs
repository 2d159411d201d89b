//! The question smtp asks at every `RCPT TO`: does this recipient exist? (SPEC §6: an
//! assignment name, a username or a configured list address.) smtp knows nothing of accounts
//! or assignments (SPEC §2); the binary implements [`Recipients`] and hands it in.

/// The answer for one local part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientCheck {
    /// A user, assignment or list of this course.
    Exists,
    /// Nobody by that name: `550 5.1.1`.
    Unknown,
    /// The check itself failed (a database is unreadable): `451 4.3.0`, try again later.
    Unavailable,
}

/// The course's directory of recipients.
///
/// `check` may block (it reads databases); sessions call it on tokio's blocking pool.
pub trait Recipients: Send + Sync + 'static {
    /// Whether `local_part` names a recipient. It is already lowercase and follows the
    /// username rule (`^[a-z][a-z0-9._-]{0,63}$`), which every recipient name follows.
    fn check(&self, local_part: &str) -> RecipientCheck;
}
