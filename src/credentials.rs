//! The login check protocol servers are handed: `net`'s [`CredentialCheck`] answered by the
//! accounts crate (argon2id, success cache, throttling), so smtp and pop never see the database.

use std::net::IpAddr;

use accounts::{AuthOutcome, Authenticator};
use net::credentials::{BoxFuture, CredentialCheck, Identity, Verdict};

/// Answers logins from the accounts database.
pub struct AccountsCredentials(pub Authenticator);

impl CredentialCheck for AccountsCredentials {
    fn check<'a>(
        &'a self,
        client: IpAddr,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            match self.0.authenticate(client, username, password).await {
                Ok(AuthOutcome::Accepted(user)) => Verdict::Accepted(Identity {
                    username: user.username,
                    full_name: user.full_name,
                }),
                Ok(AuthOutcome::Rejected) => Verdict::Rejected,
                Ok(AuthOutcome::Throttled) => Verdict::Throttled,
                Err(e) => {
                    tracing::error!(error = %e, "cannot check credentials");
                    Verdict::Unavailable
                }
            }
        })
    }
}
