//! TLS setup, owned here once for every service (STYLE: one owner per fact): the self-signed
//! pair written on first start (SPEC §3, `tls/cert.pem` and `tls/key.pem`), the rustls server
//! configuration, and the acceptor that handshakes implicit TLS and STARTTLS/STLS alike.
//!
//! rustls with the `ring` provider; TLS 1.2 and 1.3 only, rustls' safe default cipher suites,
//! no client certificates. Resumption uses rustls' defaults (an in-memory session cache).

mod files;
mod info;
mod pem;
mod selfsigned;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use tracing::{info, warn};

pub use info::{
    certificate_fingerprint, certificate_is_self_signed, certificate_names, fingerprint_of,
};
pub use tokio_rustls::TlsAcceptor;

/// File name of the certificate chain inside the TLS directory.
pub const CERT_FILE: &str = "cert.pem";
/// File name of the private key inside the TLS directory.
pub const KEY_FILE: &str = "key.pem";

/// What [`ensure_certificate`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Both files were already there and were left alone.
    Existing,
    /// Neither existed; a self-signed pair was written.
    Generated,
}

/// Why TLS could not be set up. Every message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One file of the pair exists without the other.
    #[error(
        "{} is missing but {} exists; restore the missing file, or delete {} to get a new self-signed pair",
        missing.display(), present.display(), present.display()
    )]
    IncompletePair {
        /// The file that is missing.
        missing: PathBuf,
        /// The file that exists.
        present: PathBuf,
    },
    /// A file or directory could not be read or inspected.
    #[error("cannot read {}: {source}; check that it exists and this service may read it", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file or directory could not be created or written.
    #[error("cannot write {}: {source}; check that the data root is writable and not full", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The self-signed certificate could not be generated.
    #[error(
        "cannot generate a self-signed certificate for host {hostname:?}: {reason}; configure a valid DNS host name"
    )]
    Generate {
        /// The host name it was generated for.
        hostname: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file holds no usable PEM private key.
    #[error("{} is not a PEM private key ({reason}); replace it or delete both files to get a self-signed pair", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What the PEM parser found.
        reason: String,
    },
    /// The certificate file holds no usable PEM certificate.
    #[error("{} is not a PEM certificate chain ({reason}); replace it or delete both files to get a self-signed pair", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What the PEM parser found.
        reason: String,
    },
    /// rustls rejected the pair, e.g. the key does not belong to the certificate.
    #[error(
        "{} and {} cannot be used together: {source}; replace them with a matching pair or delete both to get a self-signed pair",
        cert.display(), key.display()
    )]
    Unusable {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
}

/// Makes sure `tls_dir` holds a certificate and key, generating a self-signed pair for
/// `hostname` (plus `localhost`, 127.0.0.1 and ::1, valid for 10 years) if neither exists.
///
/// An existing pair is never touched, so an operator's real certificate survives restarts.
/// When both files exist nothing is written, so services whose `tls/` is mounted read-only work.
/// Generation happens under a lock file: smtp, pop and web starting together on one volume
/// agree on a single pair instead of each writing half of its own.
pub fn ensure_certificate(tls_dir: &Path, hostname: &str) -> Result<CertStatus, TlsError> {
    ensure_certificate_for(tls_dir, &[hostname])
}

/// Like [`ensure_certificate`], for a certificate valid for every name in `names` (the first
/// is its subject), e.g. the server name clients connect to and the mail domain.
pub fn ensure_certificate_for(tls_dir: &Path, names: &[&str]) -> Result<CertStatus, TlsError> {
    let cert = tls_dir.join(CERT_FILE);
    let key = tls_dir.join(KEY_FILE);
    // Without the lock, only a complete pair is an answer: a key without its certificate may be
    // a pair another service is writing right now (key first), which the lock waits out.
    match existing_pair(&cert, &key) {
        Ok(Some(status)) => return Ok(status),
        Ok(None) | Err(TlsError::IncompletePair { .. }) => {}
        Err(e) => return Err(e),
    }
    files::create_dir(tls_dir).map_err(|source| TlsError::Write {
        path: tls_dir.to_path_buf(),
        source,
    })?;
    let _lock = files::lock_dir(tls_dir).map_err(|source| TlsError::Write {
        path: tls_dir.join(files::LOCK_FILE),
        source,
    })?;
    if let Some(status) = existing_pair(&cert, &key)? {
        return Ok(status);
    }
    let pair = selfsigned::generate(names, time::OffsetDateTime::now_utc())?;
    // The key first: a pair is only complete once the certificate appears, and the lock keeps
    // other starters waiting until then.
    journal::write_file_atomic(&key, pair.key.as_bytes(), 0o600).map_err(|source| {
        TlsError::Write {
            path: key.clone(),
            source,
        }
    })?;
    journal::write_file_atomic(&cert, pair.cert.as_bytes(), 0o644).map_err(|source| {
        TlsError::Write {
            path: cert.clone(),
            source,
        }
    })?;
    info!(
        cert = %cert.display(),
        names = %names.join(", "),
        "generated a self-signed TLS certificate; replace cert.pem and key.pem to use a real one"
    );
    Ok(CertStatus::Generated)
}

/// `Some` when the pair is complete, `None` when neither file exists.
fn existing_pair(cert: &Path, key: &Path) -> Result<Option<CertStatus>, TlsError> {
    let exists = |path: &Path| {
        path.try_exists().map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    match (exists(cert)?, exists(key)?) {
        (true, true) => Ok(Some(CertStatus::Existing)),
        (false, false) => Ok(None),
        (false, true) => Err(TlsError::IncompletePair {
            missing: cert.to_path_buf(),
            present: key.to_path_buf(),
        }),
        (true, false) => Err(TlsError::IncompletePair {
            missing: key.to_path_buf(),
            present: cert.to_path_buf(),
        }),
    }
}

/// Loads `tls_dir/cert.pem` and `tls_dir/key.pem` into a server configuration: TLS 1.2 and 1.3,
/// no client authentication. ALPN is left empty; a caller that needs it (web: `h2`,
/// `http/1.1`) clones the config and sets `alpn_protocols`.
pub fn server_config(tls_dir: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_path = tls_dir.join(CERT_FILE);
    let key_path = tls_dir.join(KEY_FILE);
    let certs = pem::parse_certificates(&cert_path, &read(&cert_path)?)?;
    let key = pem::parse_private_key(&key_path, &read(&key_path)?)?;
    if files::readable_by_others(&key_path) {
        warn!(
            key = %key_path.display(),
            "the TLS private key is readable by other users; run chmod 600 on it"
        );
    }
    let unusable = |source| TlsError::Unusable {
        cert: cert_path.clone(),
        key: key_path.clone(),
        source,
    };
    // An explicit provider rather than the process default: nothing else has to install one,
    // and another crate enabling a second provider cannot make this ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(unusable)?;
    Ok(Arc::new(config))
}

/// The acceptor every listener and STARTTLS/STLS upgrade uses.
pub fn acceptor(config: Arc<ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(config)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}
