//! SASL mechanisms shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034): decoding PLAIN
//! (RFC 4616) and the base64 lines of LOGIN. Pure functions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a SASL response could not be used. Each message is safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not valid base64.
    #[error("response is not valid base64")]
    Base64,
    /// PLAIN needs `authzid NUL authcid NUL password`.
    #[error("PLAIN response must be authzid, username and password separated by NUL bytes")]
    PlainShape,
    /// Acting as another user is not supported.
    #[error("authorization identity must be empty or equal to the username")]
    Authzid,
    /// Username or password is not UTF-8 (RFC 4616 §2).
    #[error("username and password must be UTF-8")]
    Utf8,
    /// The client cancelled with `*`.
    #[error("authentication cancelled")]
    Cancelled,
}

/// Username and password from a PLAIN response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The authentication identity.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Decodes a client's base64 line; `*` is a cancellation and `=` an empty response
/// (RFC 4954 §4, RFC 5034 §4).
pub fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
    match line.trim() {
        "*" => Err(SaslError::Cancelled),
        "=" => Ok(Vec::new()),
        text => STANDARD.decode(text).map_err(|_| SaslError::Base64),
    }
}

/// Decodes a PLAIN response line into credentials.
pub fn decode_plain(line: &str) -> Result<PlainCredentials, SaslError> {
    let raw = decode_response(line)?;
    let mut parts = raw.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::PlainShape);
    };
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::Authzid);
    }
    let username = String::from_utf8(user.to_vec()).map_err(|_| SaslError::Utf8)?;
    let password = String::from_utf8(pass.to_vec()).map_err(|_| SaslError::Utf8)?;
    Ok(PlainCredentials { username, password })
}

/// Decodes one LOGIN response line (the username or the password) as UTF-8.
pub fn decode_login_line(line: &str) -> Result<String, SaslError> {
    String::from_utf8(decode_response(line)?).map_err(|_| SaslError::Utf8)
}

/// Base64 of `text`, for server challenges such as LOGIN's `Username:` prompt.
pub fn encode(text: &[u8]) -> String {
    STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_with_and_without_authzid() {
        let c = decode_plain(&encode(b"\0alice\0s3cret pass")).unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cret pass")
        );
        let c = decode_plain(&encode(b"alice\0alice\0pw")).unwrap();
        assert_eq!(c.username, "alice");
    }

    #[test]
    fn plain_rejects_bad_shapes() {
        assert_eq!(decode_plain("!!!not base64"), Err(SaslError::Base64));
        assert_eq!(
            decode_plain(&encode(b"alice\0pw")),
            Err(SaslError::PlainShape)
        );
        assert_eq!(
            decode_plain(&encode(b"\0a\0b\0c")),
            Err(SaslError::PlainShape)
        );
        assert_eq!(
            decode_plain(&encode(b"bob\0alice\0pw")),
            Err(SaslError::Authzid)
        );
        assert_eq!(decode_plain(&encode(b"\0\xff\0pw")), Err(SaslError::Utf8));
        assert_eq!(decode_plain("*"), Err(SaslError::Cancelled));
    }

    #[test]
    fn login_lines() {
        assert_eq!(decode_login_line(&encode(b"alice")).unwrap(), "alice");
        assert_eq!(decode_login_line("=").unwrap(), "");
        assert_eq!(decode_login_line("*"), Err(SaslError::Cancelled));
    }
}
