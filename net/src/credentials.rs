//! The question every protocol server asks at login, as a trait: "are these credentials valid?".
//!
//! Protocol crates know nothing of the accounts database (SPEC §2); the binary implements this
//! trait with the accounts crate (argon2id, success cache, throttling) and hands it in.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// Who a successful login is: what the session acts as and signs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The canonical, validated username: protocols never re-parse it.
    pub username: journal::Username,
    /// The account's full name, for the `From:` the server writes (SPEC §4).
    pub full_name: String,
}

/// The answer to a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: the identity the session now acts as.
    Accepted(Identity),
    /// Wrong password or unknown user: the two are deliberately indistinguishable.
    Rejected,
    /// Too many recent failures from this address or for this name: refused without checking.
    Throttled,
    /// The check itself failed (database unreadable): a temporary error for the client.
    Unavailable,
}

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks a username and password for a client at `client`.
pub trait CredentialCheck: Send + Sync + 'static {
    /// Decides one login attempt; throttling delays happen inside the returned future.
    fn check<'a>(
        &'a self,
        client: IpAddr,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Verdict>;
}
