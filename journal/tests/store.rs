//! The mail store: durable writes, metadata, listing and temporaries.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;

use common::Fixture;
use journal::{IdGenerator, MailStore, MessageMeta, StoreError, header_len};

const WIRE: &[u8] = b"Subject: hi\r\n\r\nbody\r\n.\r\n";

#[test]
fn written_message_reads_back_with_its_meta() {
    let fx = Fixture::new();
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    fx.store.write(&id, WIRE, 15).unwrap();
    assert_eq!(fs::read(fx.store.path(&id)).unwrap(), WIRE);
    assert_eq!(
        fx.store.meta(&id).unwrap(),
        MessageMeta {
            size: WIRE.len() as u64,
            header_len: 15
        }
    );
    let mode = fs::metadata(fx.store.path(&id))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn existing_message_is_never_overwritten() {
    let fx = Fixture::new();
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    fx.store.write(&id, WIRE, 15).unwrap();
    let err = fx
        .store
        .write(&id, b"X: y\r\n\r\nevil\r\n.\r\n", 8)
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { id: got, .. } if got == id));
    assert!(err.to_string().contains("never overwritten"));
    assert_eq!(fs::read(fx.store.path(&id)).unwrap(), WIRE);
    assert_eq!(fx.store.meta(&id).unwrap().header_len, 15);
    assert_eq!(
        fx.store.remove_stale_temporaries().unwrap(),
        0,
        "temporary left behind"
    );
}

#[test]
fn write_many_stores_every_message_and_leaves_no_temporary() {
    let fx = Fixture::new();
    let sub = IdGenerator::new().next_submission();
    let ids: Vec<_> = (1..=5).map(|i| sub.message(i).unwrap()).collect();
    let batch: Vec<_> = ids.iter().map(|id| (*id, WIRE, 15)).collect();
    fx.store.write_many(&batch).unwrap();
    assert_eq!(fx.store.list().unwrap(), ids);
    assert_eq!(fs::read_dir(fx.store.dir()).unwrap().count(), 5);
}

#[test]
fn header_length_beyond_the_message_is_refused() {
    let fx = Fixture::new();
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    let err = fx
        .store
        .write(&id, WIRE, WIRE.len() as u64 + 1)
        .unwrap_err();
    assert!(matches!(err, StoreError::HeaderTooLong { .. }));
    assert!(!fx.store.path(&id).exists());
}

#[test]
fn temporaries_and_stray_names_are_invisible_to_list() {
    let fx = Fixture::new();
    let sub = IdGenerator::new().next_submission();
    let (a, b) = (sub.message(2).unwrap(), sub.message(1).unwrap());
    fx.store.write(&a, WIRE, 15).unwrap();
    fx.store.write(&b, WIRE, 15).unwrap();
    let dir = fx.store.dir();
    fs::write(dir.join(format!(".tmp.{a}.0123")), "partial").unwrap();
    fs::write(dir.join(sub.as_str()), "a submission id, not a message").unwrap();
    fs::write(dir.join("README"), "stray").unwrap();
    assert_eq!(fx.store.list().unwrap(), vec![b, a]);
}

#[test]
fn stale_temporaries_are_removed_but_in_flight_ones_are_kept() {
    let fx = Fixture::new();
    let dir = fx.store.dir();
    let stale = dir.join(".tmp.dead-writer");
    let in_flight = dir.join(".tmp.live-writer");
    let operator = dir.join(".keep-me");
    fs::write(&stale, "half").unwrap();
    fs::write(&in_flight, "half").unwrap();
    fs::write(&operator, "not ours").unwrap();
    // A live writer holds an exclusive lock on its temporary.
    let writer = File::open(&in_flight).unwrap();
    writer.lock().unwrap();

    assert_eq!(fx.store.remove_stale_temporaries().unwrap(), 1);
    assert!(!stale.exists());
    assert!(in_flight.exists());
    assert!(operator.exists());

    drop(writer);
    assert_eq!(fx.store.remove_stale_temporaries().unwrap(), 1);
    assert!(!in_flight.exists());
}

#[test]
fn meta_without_xattr_scans_for_the_header_end() {
    let fx = Fixture::new();
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    // As restored by a tool that dropped xattrs.
    fs::write(fx.store.path(&id), WIRE).unwrap();
    assert_eq!(
        fx.store.meta(&id).unwrap().header_len,
        header_len(WIRE).unwrap()
    );
}

#[test]
fn meta_without_xattr_or_header_end_is_a_clear_error() {
    let fx = Fixture::new();
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    fs::write(fx.store.path(&id), "no blank line\r\n.\r\n").unwrap();
    let err = fx.store.meta(&id).unwrap_err();
    assert!(matches!(err, StoreError::NoHeaderEnd { .. }), "{err}");
}

#[test]
fn meta_of_a_missing_message_is_not_found() {
    let fx = Fixture::new();
    let store = MailStore::new(fx.root.mail_dir());
    let id = IdGenerator::new().next_submission().message(1).unwrap();
    let err = store.meta(&id).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(err.to_string().contains(id.as_str()));
}
