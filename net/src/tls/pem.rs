//! Parsing the PEM files of the TLS directory into rustls' types: pure functions over bytes, so
//! each error case is a unit test. Uses rustls-pki-types' `PemObject`.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// The certificate chain in `contents` (leaf first), read from `path`.
pub(super) fn parse_certificates(
    path: &Path,
    contents: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(contents)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad(err.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE section found".to_owned()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in `contents`, read from `path`.
pub(super) fn parse_private_key(
    path: &Path,
    contents: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(contents).map_err(|err| TlsError::BadKey {
        path: path.to_path_buf(),
        reason: match err {
            pem::Error::NoItemsFound => "no PRIVATE KEY section found".to_owned(),
            other => other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIDk=\n-----END PRIVATE KEY-----\n";

    #[test]
    fn text_without_pem_sections_is_not_a_key() {
        let err = parse_private_key(Path::new("tls/key.pem"), b"hello\n").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("tls/key.pem is not a PEM private key"),
            "{message}"
        );
        assert!(message.contains("no PRIVATE KEY section"), "{message}");
    }

    #[test]
    fn certificate_file_in_place_of_key_is_rejected() {
        let cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = parse_private_key(Path::new("key.pem"), cert).unwrap_err();
        assert!(matches!(err, TlsError::BadKey { .. }), "{err}");
    }

    #[test]
    fn key_in_place_of_certificate_is_rejected() {
        let err = parse_certificates(Path::new("cert.pem"), KEY_PEM.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE section"), "{err}");
    }

    #[test]
    fn broken_base64_is_reported() {
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n";
        let err = parse_certificates(Path::new("cert.pem"), broken).unwrap_err();
        assert!(matches!(err, TlsError::BadCertificate { .. }), "{err}");
    }

    #[test]
    fn pkcs8_key_is_parsed() {
        let key = parse_private_key(Path::new("key.pem"), KEY_PEM.as_bytes()).unwrap();
        assert!(matches!(key, PrivateKeyDer::Pkcs8(_)));
    }
}
