//! The TLS pair of SPEC §3 (`tls/cert.pem`, `tls/key.pem`): generated once, kept afterwards,
//! and every broken state explained by name.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use net::{CertStatus, TlsError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_call_generates_a_self_signed_pair_with_sans_and_modes() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("data/tls");

    let status = net::ensure_certificate(&tls, "mail.example.org").unwrap();

    assert_eq!(status, CertStatus::Generated);
    assert_eq!(mode(&tls.join("key.pem")), 0o600);
    assert_eq!(mode(&tls.join("cert.pem")), 0o644);
    let der = CertificateDer::from_pem_file(tls.join("cert.pem")).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = cert.subject_alternative_name().unwrap().unwrap();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &sans.value.general_names {
        match name {
            GeneralName::DNSName(host) => dns.push(host.to_string()),
            GeneralName::IPAddress(bytes) => ips.push(match bytes.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap()),
                _ => IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap()),
            }),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(dns, ["mail.example.org", "localhost"]);
    assert_eq!(
        ips,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert!((3650..=3660).contains(&days), "valid for {days} days");
    assert!(validity.is_valid(), "not valid now: {validity:?}");
    assert_eq!(cert.subject(), cert.issuer());
    // The pair loads: key and certificate belong together.
    net::server_config(&tls).unwrap();
}

#[test]
fn second_call_keeps_the_existing_files() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    let cert = fs::read(tls.join("cert.pem")).unwrap();
    let key = fs::read(tls.join("key.pem")).unwrap();

    let status = net::ensure_certificate(&tls, "other.example.org").unwrap();

    assert_eq!(status, CertStatus::Existing);
    assert_eq!(fs::read(tls.join("cert.pem")).unwrap(), cert);
    assert_eq!(fs::read(tls.join("key.pem")).unwrap(), key);
}

#[test]
fn no_temporary_files_are_left_behind() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    let mut names: Vec<String> = fs::read_dir(&tls)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != ".lock")
        .collect();
    names.sort();
    assert_eq!(names, ["cert.pem", "key.pem"]);
}

#[test]
fn missing_key_is_named_in_the_error() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    fs::remove_file(tls.join("key.pem")).unwrap();

    let err = net::ensure_certificate(&tls, "mail.example.org").unwrap_err();

    assert!(
        matches!(&err, TlsError::IncompletePair { missing, .. } if missing.ends_with("key.pem"))
    );
    let message = err.to_string();
    assert!(message.contains("key.pem is missing"), "{message}");
    assert!(message.contains("cert.pem exists"), "{message}");
    // Nothing was generated over the remaining certificate.
    assert!(!tls.join("key.pem").exists());
}

#[test]
fn missing_certificate_is_named_in_the_error() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    fs::remove_file(tls.join("cert.pem")).unwrap();

    let err = net::ensure_certificate(&tls, "mail.example.org").unwrap_err();

    assert!(err.to_string().contains("cert.pem is missing"), "{err}");
}

#[test]
fn garbage_key_gives_an_error_naming_the_file_and_the_fix() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    fs::write(tls.join("key.pem"), "this is not a key\n").unwrap();

    let err = net::server_config(&tls).unwrap_err();

    assert!(matches!(err, TlsError::BadKey { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("key.pem is not a PEM private key"),
        "{message}"
    );
    assert!(message.contains("delete both files"), "{message}");
}

#[test]
fn garbage_certificate_gives_an_error_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    net::ensure_certificate(&tls, "mail.example.org").unwrap();
    fs::write(tls.join("cert.pem"), [0xff, 0x00, 0x17]).unwrap();

    let err = net::server_config(&tls).unwrap_err();

    assert!(matches!(err, TlsError::BadCertificate { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cert.pem is not a PEM certificate"),
        "{err}"
    );
}

#[test]
fn key_of_another_pair_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let first = root.path().join("first");
    let second = root.path().join("second");
    net::ensure_certificate(&first, "mail.example.org").unwrap();
    net::ensure_certificate(&second, "mail.example.org").unwrap();
    fs::copy(second.join("key.pem"), first.join("key.pem")).unwrap();

    let err = net::server_config(&first).unwrap_err();

    assert!(matches!(err, TlsError::Unusable { .. }), "{err}");
    assert!(err.to_string().contains("cannot be used together"), "{err}");
}

#[test]
fn missing_directory_makes_server_config_say_which_file() {
    let root = tempfile::tempdir().unwrap();
    let err = net::server_config(&root.path().join("nowhere")).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().contains("nowhere/cert.pem"), "{err}");
}

#[test]
fn services_starting_together_agree_on_one_pair() {
    let root = tempfile::tempdir().unwrap();
    let tls = root.path().join("tls");
    let statuses: Vec<CertStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| net::ensure_certificate(&tls, "mail.example.org").unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let generated = statuses
        .iter()
        .filter(|s| **s == CertStatus::Generated)
        .count();
    assert_eq!(generated, 1, "{statuses:?}");
    net::server_config(&tls).unwrap();
}
