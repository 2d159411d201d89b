//! What people check about the certificate: the names it is valid for and its SHA-256
//! fingerprint, which `/setup` shows students so they can compare it with what their client
//! reports (SPEC §11), and which `up` uses to warn when clients would refuse it.

use std::path::Path;

use super::{CERT_FILE, TlsError, pem};

/// The leaf certificate of `tls_dir`, DER-encoded.
fn leaf(tls_dir: &Path) -> Result<Vec<u8>, TlsError> {
    let path = tls_dir.join(CERT_FILE);
    let contents = std::fs::read(&path).map_err(|source| TlsError::Read {
        path: path.clone(),
        source,
    })?;
    let chain = pem::parse_certificates(&path, &contents)?;
    Ok(chain[0].as_ref().to_vec())
}

/// The SHA-256 fingerprint of `der` as uppercase hex pairs joined by colons, the form
/// `openssl x509 -fingerprint -sha256`, browsers and Thunderbird show (pure).
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SHA-256 fingerprint of the certificate in `tls_dir`.
pub fn certificate_fingerprint(tls_dir: &Path) -> Result<String, TlsError> {
    Ok(fingerprint_of(&leaf(tls_dir)?))
}

/// Whether the certificate in `tls_dir` is self-signed (its issuer is its subject): clients
/// must then be given the certificate itself, as no authority they know vouches for it.
pub fn certificate_is_self_signed(tls_dir: &Path) -> Result<bool, TlsError> {
    let der = leaf(tls_dir)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| TlsError::BadCertificate {
            path: tls_dir.join(CERT_FILE),
            reason: e.to_string(),
        })?;
    Ok(cert.issuer() == cert.subject())
}

/// The DNS names and addresses the certificate in `tls_dir` is valid for (its subject
/// alternative names).
pub fn certificate_names(tls_dir: &Path) -> Result<Vec<String>, TlsError> {
    let der = leaf(tls_dir)?;
    let bad = |reason: String| TlsError::BadCertificate {
        path: tls_dir.join(CERT_FILE),
        reason,
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| bad(e.to_string()))?;
    let mut names = Vec::new();
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => names.push(dns.to_string()),
            x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).map(std::net::IpAddr::from).ok(),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .map(std::net::IpAddr::from)
                        .ok(),
                    _ => None,
                };
                names.extend(ip.map(|ip| ip.to_string()));
            }
            _ => {}
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_colon_separated_uppercase_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            fingerprint_of(b""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }

    #[test]
    fn a_generated_certificate_names_every_host_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        super::super::ensure_certificate_for(dir.path(), &["localhost", "course.localhost"])
            .unwrap();
        let names = certificate_names(dir.path()).unwrap();
        for name in ["localhost", "course.localhost", "127.0.0.1", "::1"] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        assert_eq!(
            certificate_fingerprint(dir.path()).unwrap().len(),
            32 * 3 - 1
        );
    }
}
