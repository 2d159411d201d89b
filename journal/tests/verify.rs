//! Verify: every internal and every external problem is detected, each on its own.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use common::{Fixture, set_offset};
use journal::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, DATA_END_XATTR};
use journal::{JournalError, RECORD_LEN, Record, VerifyReport, verify};

const R: u64 = RECORD_LEN as u64;

/// A consistent journal of three released messages.
fn released() -> (Fixture, Vec<Record>) {
    let fx = Fixture::new();
    let records = vec![fx.message("a"), fx.message("b"), fx.message("c")];
    fx.writer().append(&records).unwrap();
    (fx, records)
}

fn check(fx: &Fixture) -> VerifyReport {
    verify(&fx.journal, &fx.store, &|_, _| {}).unwrap()
}

/// Asserts exactly one internal problem mentioning `needle`, and no external one.
fn assert_one_internal(report: &VerifyReport, needle: &str) {
    assert_eq!(report.internal.len(), 1, "{report:#?}");
    assert!(report.internal[0].contains(needle), "{report:#?}");
    assert!(report.external.is_empty(), "{report:#?}");
    assert!(!report.is_consistent());
}

fn assert_one_external(report: &VerifyReport, needle: &str) {
    assert!(report.internal.is_empty(), "{report:#?}");
    assert_eq!(report.external.len(), 1, "{report:#?}");
    assert!(report.external[0].contains(needle), "{report:#?}");
    assert!(!report.is_consistent());
}

fn write_at(fx: &Fixture, bytes: &[u8], offset: u64) {
    let file = OpenOptions::new().write(true).open(&fx.journal).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn consistent_journal_verifies_clean_and_counts_records() {
    let (fx, _) = released();
    let done = std::cell::Cell::new(0);
    let report = verify(&fx.journal, &fx.store, &|d, t| {
        assert_eq!(t, 3);
        done.set(d);
    })
    .unwrap();
    assert!(report.is_consistent(), "{report:#?}");
    assert_eq!(report.records, 3);
    assert_eq!(done.get(), 3);
}

#[test]
fn missing_journal_is_an_error_not_a_report() {
    let fx = Fixture::new();
    let err = verify(&fx.root.journal_dir().join("nope"), &fx.store, &|_, _| {}).unwrap_err();
    assert!(matches!(err, JournalError::Missing { .. }));
}

#[test]
fn missing_data_end_is_internal() {
    let (fx, _) = released();
    xattr::remove(&fx.journal, DATA_END_XATTR).unwrap();
    let report = check(&fx);
    assert_one_internal(&report, "no user.data_end");
    assert_eq!(
        report.records, 3,
        "whole records in the file are still examined"
    );
}

#[test]
fn malformed_data_end_is_internal() {
    let (fx, _) = released();
    xattr::set(&fx.journal, DATA_END_XATTR, b"\x01").unwrap();
    assert_one_internal(&check(&fx), "expected an 8-byte");
}

#[test]
fn data_end_not_a_multiple_of_48_is_internal() {
    let (fx, _) = released();
    set_offset(&fx.journal, DATA_END_XATTR, 2 * R + 5);
    // Its running total, for offset 3 * R, would be a second problem; isolate this one.
    xattr::remove(&fx.journal, DATA_END_OCTETS_XATTR).unwrap();
    let report = check(&fx);
    assert_one_internal(&report, "not a multiple of the 48-byte record size");
    assert_eq!(report.records, 2);
}

#[test]
fn data_end_past_a_short_file_is_internal() {
    let (fx, _) = released();
    OpenOptions::new()
        .write(true)
        .open(&fx.journal)
        .unwrap()
        .set_len(2 * R + 10)
        .unwrap();
    let report = check(&fx);
    assert_one_internal(&report, "past the end of the file");
    assert_eq!(report.records, 2);
}

#[test]
fn undecodable_record_is_internal() {
    let (fx, _) = released();
    write_at(&fx, &(-1i64).to_le_bytes(), R);
    assert_one_internal(&check(&fx), "record 1 (offset 48)");
}

#[test]
fn record_with_a_bad_name_is_internal() {
    let (fx, _) = released();
    write_at(&fx, b"Z", 2 * R + 17);
    assert_one_internal(&check(&fx), "not a message id");
}

#[test]
fn duplicate_record_is_internal() {
    let (fx, records) = released();
    write_at(&fx, &records[0].encode(), 3 * R);
    set_offset(&fx.journal, DATA_END_XATTR, 4 * R);
    assert_one_internal(&check(&fx), "record 3 repeats message");
}

#[test]
fn cap_not_a_multiple_of_48_is_internal() {
    let (fx, _) = released();
    set_offset(&fx.journal, "user.bob_limit", 50);
    assert_one_internal(&check(&fx), "user.bob_limit = 50 is not a multiple");
}

#[test]
fn cap_past_data_end_is_internal() {
    let (fx, _) = released();
    set_offset(&fx.journal, "user.bob_limit", 4 * R);
    assert_one_internal(&check(&fx), "past data_end");
}

#[test]
fn cap_whose_name_is_not_a_username_is_internal() {
    let (fx, _) = released();
    set_offset(&fx.journal, "user.Bob_limit", R);
    assert_one_internal(&check(&fx), "not name a valid username");
}

#[test]
fn malformed_cap_value_is_internal() {
    let (fx, _) = released();
    xattr::set(&fx.journal, "user.bob_limit", b"xyz").unwrap();
    assert_one_internal(&check(&fx), "3 bytes long");
}

#[test]
fn missing_message_file_is_external() {
    let (fx, records) = released();
    fs::remove_file(fx.store.path(&records[1].name)).unwrap();
    assert_one_external(&check(&fx), "is missing");
}

#[test]
fn wrong_size_is_external() {
    let (fx, records) = released();
    let path = fx.store.path(&records[2].name);
    let mut wire = fs::read(&path).unwrap();
    wire.extend_from_slice(b"x");
    fs::remove_file(&path).unwrap();
    fs::write(&path, &wire).unwrap();
    assert_one_external(&check(&fx), "bytes in mail/ but the journal says");
}

#[test]
fn wrong_header_length_is_external() {
    let (fx, records) = released();
    let path = fx.store.path(&records[0].name);
    xattr::set(&path, "user.header_len", &3u64.to_le_bytes()).unwrap();
    assert_one_external(&check(&fx), "3-byte header in mail/");
}

#[test]
fn wrong_running_total_is_internal() {
    let (fx, _) = released();
    let wrong = Checkpoint {
        offset: 3 * R,
        octets: 1,
    };
    xattr::set(&fx.journal, DATA_END_OCTETS_XATTR, &wrong.encode()).unwrap();
    assert_one_internal(&check(&fx), "but they add up to");
}

#[test]
fn malformed_running_total_is_internal() {
    let (fx, _) = released();
    xattr::set(&fx.journal, "user.bob_limit", &R.to_le_bytes()).unwrap();
    xattr::set(&fx.journal, "user.bob_limit_octets", b"12345678").unwrap();
    assert_one_internal(&check(&fx), "expected 16");
}

#[test]
fn running_total_past_data_end_is_internal() {
    let (fx, _) = released();
    let past = Checkpoint {
        offset: 4 * R,
        octets: 0,
    };
    xattr::set(&fx.journal, DATA_END_OCTETS_XATTR, &past.encode()).unwrap();
    assert_one_internal(&check(&fx), "past data_end");
}
