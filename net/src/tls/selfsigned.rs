//! The self-signed pair written on first start, so a fresh `coursemail up` speaks TLS without
//! any setup. Pure: the clock is a parameter.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::TlsError;

/// Ten years: long enough that an appliance never breaks mid-term because of its own
/// certificate (clients pin or except it once).
const VALIDITY: Duration = Duration::days(3652);

/// Back-dating, so clients whose clock is a little behind still accept a fresh certificate.
const BACKDATE: Duration = Duration::days(1);

/// A certificate and its private key, PEM encoded.
pub(super) struct PemPair {
    pub(super) cert: String,
    pub(super) key: String,
}

/// The subject alternative names: the configured hosts plus the loopback names that local
/// clients and tests use. Duplicates (a host of `localhost` or `127.0.0.1`) are left out.
pub(super) fn subject_alt_names(hosts: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(hosts.len() + 3);
    for &name in hosts.iter().chain(&["localhost", "127.0.0.1", "::1"]) {
        if !names.iter().any(|seen| same_name(seen, name)) {
            names.push(name.to_owned());
        }
    }
    names
}

fn same_name(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        // DNS names compare case-insensitively (RFC 4343).
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// Generates an ECDSA P-256 key and a self-signed server certificate for `hosts` (the first
/// is its subject), valid from a day before `now` for ten years.
pub(super) fn generate(hosts: &[&str], now: OffsetDateTime) -> Result<PemPair, TlsError> {
    let hostname = hosts.first().copied().unwrap_or_default();
    let failed = |reason: String| TlsError::Generate {
        hostname: hostname.to_owned(),
        reason,
    };
    if hosts.is_empty()
        || hosts
            .iter()
            .any(|h| h.is_empty() || h.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(failed(
            "the host name is empty or contains spaces".to_owned(),
        ));
    }
    let mut params =
        CertificateParams::new(subject_alt_names(hosts)).map_err(|e| failed(e.to_string()))?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, hostname);
    params.distinguished_name = subject;
    let clock = || failed("the system clock is out of range".to_owned());
    params.not_before = now.checked_sub(BACKDATE).ok_or_else(clock)?;
    params.not_after = now.checked_add(VALIDITY).ok_or_else(clock)?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| failed(e.to_string()))?;
    Ok(PemPair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_include_host_and_loopback() {
        assert_eq!(
            subject_alt_names(&["mail.example.org"]),
            ["mail.example.org", "localhost", "127.0.0.1", "::1"]
        );
    }

    #[test]
    fn loopback_host_is_not_listed_twice() {
        assert_eq!(
            subject_alt_names(&["LOCALHOST"]),
            ["LOCALHOST", "127.0.0.1", "::1"]
        );
        assert_eq!(
            subject_alt_names(&["0:0:0:0:0:0:0:1"]),
            ["0:0:0:0:0:0:0:1", "localhost", "127.0.0.1"]
        );
    }

    #[test]
    fn empty_host_name_is_refused_with_advice() {
        let err = generate(&[""], OffsetDateTime::now_utc()).err().unwrap();
        assert!(
            err.to_string().contains("configure a valid DNS host name"),
            "{err}"
        );
    }

    #[test]
    fn non_ascii_host_name_is_refused() {
        let err = generate(&["mäil.example"], OffsetDateTime::now_utc())
            .err()
            .unwrap();
        assert!(matches!(err, TlsError::Generate { .. }), "{err}");
    }

    #[test]
    fn generated_pair_is_pem() {
        let pair = generate(&["mail.example.org"], OffsetDateTime::now_utc()).unwrap();
        assert!(pair.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pair.key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
