//! Writer and reader behaviour: init, append, restrict, caps and snapshots.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

use common::{Fixture, assert_octets_match, get_offset, names, names_of, set_offset, user_named};
use journal::attrs::{Checkpoint, DATA_END_OCTETS_XATTR, DATA_END_XATTR, cap_xattr};
use journal::{
    AppendOutcome, JournalError, JournalWriter, RECORD_LEN, Record, RecordError, Restriction,
    Snapshot,
};

const R: u64 = RECORD_LEN as u64;

#[test]
fn init_creates_an_empty_journal_and_is_idempotent() {
    let fx = Fixture::new();
    assert_eq!(fs::metadata(&fx.journal).unwrap().len(), 0);
    assert_eq!(get_offset(&fx.journal, DATA_END_XATTR), Some(0));
    fx.writer().append(&[fx.message("a")]).unwrap();
    JournalWriter::init(&fx.journal).unwrap();
    assert_eq!(
        fx.writer().data_end().unwrap(),
        R,
        "init must not reset a journal"
    );
}

#[test]
fn opening_a_missing_journal_says_to_run_init() {
    let fx = Fixture::new();
    let missing = fx.root.journal_dir().join("nope");
    let err = JournalWriter::open(&missing).unwrap_err();
    assert!(matches!(err, JournalError::Missing { .. }));
    assert!(err.to_string().contains("coursemail journal init"));
    let err = Snapshot::open(&missing, &user_named("alice")).unwrap_err();
    assert!(matches!(err, JournalError::Missing { .. }));
}

#[test]
fn appended_records_are_visible_in_release_order() {
    let fx = Fixture::new();
    let records = fx.messages(&["cover", "patch 1", "patch 2"]);
    let release: Vec<Record> = records.iter().rev().copied().collect();
    let outcome = fx.writer().append(&release).unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            appended: 3,
            already_present: 0
        }
    );
    assert_eq!(fx.writer().records().unwrap(), release);
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert_eq!(snap.len(), 3);
    assert_eq!(snap.limit_bytes(), 3 * R);
    assert_eq!(snap.get(0).unwrap(), release[0]);
    assert_eq!(names(&snap), names_of(&release));
}

#[test]
fn releasing_a_message_twice_changes_nothing() {
    let fx = Fixture::new();
    let (a, b, c) = (fx.message("a"), fx.message("b"), fx.message("c"));
    let writer = fx.writer();
    writer.append(&[a, b]).unwrap();
    let outcome = writer.append(&[b, c, c, a]).unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            appended: 1,
            already_present: 3
        }
    );
    assert_eq!(
        names_of(&writer.records().unwrap()),
        vec![a.name, b.name, c.name]
    );
    // A fresh writer (another process) must not rely on the first one's cache.
    assert_eq!(fx.writer().append(&[a, b, c]).unwrap().appended, 0);
    assert_eq!(writer.data_end().unwrap(), 3 * R);
}

#[test]
fn a_writer_sees_what_another_writer_appended() {
    let fx = Fixture::new();
    let (a, b) = (fx.message("a"), fx.message("b"));
    let (w1, w2) = (fx.writer(), fx.writer());
    w1.append(&[a]).unwrap();
    w2.append(&[b]).unwrap();
    assert_eq!(w1.append(&[b, a]).unwrap().appended, 0);
    assert_eq!(w1.records().unwrap().len(), 2);
}

#[test]
fn invalid_record_is_refused_before_anything_is_written() {
    let fx = Fixture::new();
    let good = fx.message("good");
    let mut bad = fx.message("bad");
    bad.header_len = bad.size + 1;
    let err = fx.writer().append(&[good, bad]).unwrap_err();
    assert!(matches!(
        err,
        JournalError::InvalidRecord(RecordError::HeaderLongerThanMessage { .. })
    ));
    assert_eq!(fx.writer().data_end().unwrap(), 0);
    assert_eq!(fs::metadata(&fx.journal).unwrap().len(), 0);
}

#[test]
fn restricted_user_sees_only_prefix() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let early = fx.messages(&["cover", "patch"]);
    writer.append(&early).unwrap();
    writer
        .restrict(&user_named("lazy"), Restriction::Deny)
        .unwrap();
    let late = fx.message("peer work");
    writer.append(&[late]).unwrap();

    assert_eq!(fx.visible("lazy"), names_of(&early));
    let everyone = fx.visible("diligent");
    assert_eq!(everyone.len(), 3);
    assert_eq!(everyone[2], late.name);
    let snap = Snapshot::open(&fx.journal, &user_named("lazy")).unwrap();
    assert_eq!(snap.limit_bytes(), 2 * R);
}

#[test]
fn deny_keeps_an_existing_cap_and_update_moves_it() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let bob = user_named("bob");
    writer.append(&[fx.message("1")]).unwrap();
    writer.restrict(&bob, Restriction::Deny).unwrap();
    writer.append(&[fx.message("2")]).unwrap();
    writer.restrict(&bob, Restriction::Deny).unwrap();
    assert_eq!(writer.caps().unwrap(), vec![(bob.clone(), R)]);
    writer.restrict(&bob, Restriction::Update).unwrap();
    assert_eq!(writer.caps().unwrap(), vec![(bob.clone(), 2 * R)]);
    assert_eq!(fx.visible("bob").len(), 2);
}

#[test]
fn allow_removes_the_cap_and_tolerates_none() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let carol = user_named("carol");
    writer.restrict(&carol, Restriction::Allow).unwrap();
    writer.restrict(&carol, Restriction::Deny).unwrap();
    writer.append(&[fx.message("x")]).unwrap();
    assert!(fx.visible("carol").is_empty());
    writer.restrict(&carol, Restriction::Allow).unwrap();
    assert!(writer.caps().unwrap().is_empty());
    assert_eq!(fx.visible("carol").len(), 1);
    assert_eq!(get_offset(&fx.journal, &cap_xattr(&carol)), None);
}

#[test]
fn caps_are_listed_by_user_in_bytes_and_skip_invalid_names() {
    let fx = Fixture::new();
    let writer = fx.writer();
    writer.append(&[fx.message("1"), fx.message("2")]).unwrap();
    writer
        .restrict(&user_named("zed"), Restriction::Update)
        .unwrap();
    writer
        .restrict(&user_named("amy"), Restriction::Deny)
        .unwrap();
    set_offset(&fx.journal, "user.Not-A-User_limit", 0);
    assert_eq!(
        writer.caps().unwrap(),
        vec![(user_named("amy"), 2 * R), (user_named("zed"), 2 * R)]
    );
}

#[test]
fn snapshot_keeps_its_view_while_the_journal_grows() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let first = fx.message("first");
    writer.append(&[first]).unwrap();
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    writer.append(&[fx.message("second")]).unwrap();
    assert_eq!(names(&snap), vec![first.name]);
    assert_eq!(fx.visible("alice").len(), 2);
}

#[test]
fn readers_ignore_an_unfinished_tail_and_the_next_append_overwrites_it() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let a = fx.message("a");
    writer.append(&[a]).unwrap();
    // What a crash between writing records and moving data_end leaves: a record and a half.
    let tail = OpenOptions::new().write(true).open(&fx.journal).unwrap();
    tail.write_all_at(&[0xAB; 72], R).unwrap();
    assert_eq!(fx.visible("alice"), vec![a.name]);

    let b = fx.message("b");
    writer.append(&[b]).unwrap();
    assert_eq!(fx.visible("alice"), vec![a.name, b.name]);
    assert_eq!(fx.writer().records().unwrap().len(), 2);
}

#[test]
fn cap_above_data_end_is_clamped() {
    let fx = Fixture::new();
    fx.writer().append(&[fx.message("a")]).unwrap();
    set_offset(&fx.journal, &cap_xattr(&user_named("eve")), 10 * R);
    let snap = Snapshot::open(&fx.journal, &user_named("eve")).unwrap();
    assert_eq!(snap.len(), 1);
    assert_eq!(snap.limit_bytes(), R);
}

#[test]
fn prefix_that_is_not_whole_records_is_an_error() {
    let fx = Fixture::new();
    fx.writer()
        .append(&[fx.message("a"), fx.message("b")])
        .unwrap();
    set_offset(&fx.journal, DATA_END_XATTR, 50);
    let err = Snapshot::open(&fx.journal, &user_named("alice")).unwrap_err();
    assert!(
        matches!(err, JournalError::Misaligned { value: 50, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("not a multiple of the 48-byte record size")
    );
    assert!(matches!(
        fx.writer().append(&[fx.message("c")]),
        Err(JournalError::Misaligned { .. })
    ));

    set_offset(&fx.journal, DATA_END_XATTR, 2 * R);
    set_offset(&fx.journal, &cap_xattr(&user_named("bob")), R + 1);
    let err = Snapshot::open(&fx.journal, &user_named("bob")).unwrap_err();
    assert!(matches!(err, JournalError::Misaligned { ref what, .. } if what.contains("bob")));
}

#[test]
fn prefix_beyond_a_short_file_is_an_error() {
    let fx = Fixture::new();
    fx.writer().append(&[fx.message("a")]).unwrap();
    set_offset(&fx.journal, DATA_END_XATTR, 3 * R);
    let err = Snapshot::open(&fx.journal, &user_named("alice")).unwrap_err();
    assert!(
        matches!(err, JournalError::Truncated { value, file_len, .. } if value == 3 * R && file_len == R),
        "{err}"
    );
    assert!(err.to_string().contains("truncated"));
}

#[test]
fn a_file_without_data_end_is_not_a_journal() {
    let fx = Fixture::new();
    xattr::remove(&fx.journal, DATA_END_XATTR).unwrap();
    let err = Snapshot::open(&fx.journal, &user_named("alice")).unwrap_err();
    assert!(matches!(err, JournalError::NoDataEnd { .. }));
    assert!(err.to_string().contains("--preserve=xattr"));
    assert!(matches!(
        fx.writer().data_end(),
        Err(JournalError::NoDataEnd { .. })
    ));
}

#[test]
fn malformed_offset_attribute_is_a_clear_error() {
    let fx = Fixture::new();
    xattr::set(&fx.journal, DATA_END_XATTR, b"12").unwrap();
    let err = Snapshot::open(&fx.journal, &user_named("alice")).unwrap_err();
    assert!(
        matches!(err, JournalError::BadAttribute { len: 2, .. }),
        "{err}"
    );
}

#[test]
fn corrupt_committed_record_is_reported_with_its_index() {
    let fx = Fixture::new();
    fx.writer()
        .append(&[fx.message("a"), fx.message("b")])
        .unwrap();
    let file = OpenOptions::new().write(true).open(&fx.journal).unwrap();
    let mut name = [0u8; 31];
    name[..16].copy_from_slice(b"../../etc/passwd");
    file.write_all_at(&name, R + 17).unwrap();
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert!(snap.get(0).is_ok());
    let err = snap.get(1).unwrap_err();
    assert!(matches!(
        err,
        JournalError::Record {
            index: 1,
            source: RecordError::BadName { .. },
            ..
        }
    ));
    assert!(err.to_string().contains("../../etc/passwd"));
    assert!(matches!(
        snap.get(2),
        Err(JournalError::OutOfRange { index: 2, len: 2 })
    ));
    assert!(matches!(
        fx.writer().records(),
        Err(JournalError::Record { index: 1, .. })
    ));
}

#[test]
fn empty_journal_gives_an_empty_snapshot() {
    let fx = Fixture::new();
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert!(snap.is_empty());
    assert_eq!(snap.iter().count(), 0);
    assert!(matches!(snap.get(0), Err(JournalError::OutOfRange { .. })));
}

#[test]
fn opening_a_snapshot_writes_nothing() {
    let fx = Fixture::new();
    fx.writer().append(&[fx.message("a")]).unwrap();
    let lock = fx.writer().lock_path().to_path_buf();
    fs::remove_file(&lock).unwrap();
    let before = fs::metadata(&fx.journal).unwrap();
    let xattrs_before: Vec<_> = xattr::list(&fx.journal).unwrap().collect();
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert_eq!(snap.len(), 1);
    assert!(!lock.exists(), "a reader must not need the lock file");
    let after = fs::metadata(&fx.journal).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
    assert_eq!(
        xattrs_before,
        xattr::list(&fx.journal).unwrap().collect::<Vec<_>>()
    );
}

#[test]
fn restriction_parses_from_cli_words() {
    assert_eq!("deny".parse::<Restriction>().unwrap(), Restriction::Deny);
    assert_eq!(
        "update".parse::<Restriction>().unwrap(),
        Restriction::Update
    );
    assert_eq!("allow".parse::<Restriction>().unwrap(), Restriction::Allow);
    assert!(
        "Deny"
            .parse::<Restriction>()
            .unwrap_err()
            .to_string()
            .contains("deny, update or allow")
    );
}

#[test]
fn writer_and_snapshot_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<JournalWriter>();
    shareable::<Snapshot>();
    shareable::<journal::IdGenerator>();

    let fx = Fixture::new();
    let writer = fx.writer();
    let batches: Vec<Vec<Record>> = (0..4)
        .map(|t| (0..10).map(|i| fx.message(&format!("{t}.{i}"))).collect())
        .collect();
    std::thread::scope(|s| {
        for batch in &batches {
            let writer = &writer;
            s.spawn(move || {
                for record in batch {
                    writer.append(&[*record]).unwrap();
                }
            });
        }
    });
    assert_eq!(writer.data_end().unwrap(), 40 * R);
}

#[test]
fn snapshot_octets_add_up_the_visible_sizes_from_the_running_total() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let early = [fx.message("short"), fx.message("a somewhat longer body")];
    writer.append(&early).unwrap();
    writer
        .restrict(&user_named("frozen"), Restriction::Deny)
        .unwrap();
    writer.append(&[fx.message("late")]).unwrap();

    let frozen = Snapshot::open(&fx.journal, &user_named("frozen")).unwrap();
    let early_octets = (early[0].size + early[1].size) as u64;
    assert_eq!(frozen.octets().unwrap(), early_octets);
    // The cap and its running total live in the caps file beside the journal.
    let caps = journal::caps::CapsFile::open(&journal::caps::caps_path(&fx.journal))
        .unwrap()
        .unwrap();
    assert_eq!(
        caps.lookup(&user_named("frozen")),
        Some(journal::caps::Cap {
            offset: 2 * R,
            octets: early_octets
        })
    );

    let all = Snapshot::open(&fx.journal, &user_named("free")).unwrap();
    assert_octets_match(&all);
    let end_total = Checkpoint::decode(
        &xattr::get(&fx.journal, DATA_END_OCTETS_XATTR)
            .unwrap()
            .unwrap(),
    );
    assert_eq!(end_total.map(|c| c.offset), Some(3 * R));

    writer
        .restrict(&user_named("frozen"), Restriction::Allow)
        .unwrap();
    let attrs: Vec<_> = xattr::list(&fx.journal).unwrap().collect();
    assert!(
        !attrs.iter().any(|a| a.to_string_lossy().contains("frozen")),
        "{attrs:?}"
    );
}

#[test]
fn octets_are_summed_from_an_older_total_after_a_crash_or_import() {
    let fx = Fixture::new();
    let writer = fx.writer();
    let records = [fx.message("1"), fx.message("22"), fx.message("333")];
    writer.append(&records).unwrap();
    let all: u64 = records.iter().map(|r| r.size as u64).sum();
    // A crash between moving data_end and its total: the total is for an older offset.
    let stale = Checkpoint {
        offset: R,
        octets: records[0].size as u64,
    };
    xattr::set(&fx.journal, DATA_END_OCTETS_XATTR, &stale.encode()).unwrap();
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert_eq!(snap.octets().unwrap(), all);
    // Imported from the predecessor: no totals at all.
    xattr::remove(&fx.journal, DATA_END_OCTETS_XATTR).unwrap();
    assert_eq!(
        Snapshot::open(&fx.journal, &user_named("alice"))
            .unwrap()
            .octets()
            .unwrap(),
        all
    );
    // Malformed: ignored, summed from the start.
    xattr::set(&fx.journal, DATA_END_OCTETS_XATTR, b"junk").unwrap();
    assert_eq!(
        Snapshot::open(&fx.journal, &user_named("alice"))
            .unwrap()
            .octets()
            .unwrap(),
        all
    );
    // The next append writes a current total over the malformed one...
    writer.append(&[fx.message("4444")]).unwrap();
    assert!(verify_ok(&fx));
    // ...which, being past bob's prefix, bob's snapshot cannot use.
    set_offset(&fx.journal, &cap_xattr(&user_named("bob")), 2 * R);
    let bob = Snapshot::open(&fx.journal, &user_named("bob")).unwrap();
    assert_eq!(
        bob.octets().unwrap(),
        (records[0].size + records[1].size) as u64
    );
}

fn verify_ok(fx: &Fixture) -> bool {
    journal::verify(&fx.journal, &fx.store, &|_, _| {})
        .unwrap()
        .is_consistent()
}

#[test]
fn reading_the_journal_does_not_wait_for_a_busy_writer() {
    let fx = Fixture::new();
    let records = fx.messages(&["a", "b"]);
    fx.writer().append(&records).unwrap();
    // Another writer holds the lock (a long rebuild, say).
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(fx.writer().lock_path())
        .unwrap();
    lock.lock().unwrap();
    let writer = fx.writer();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let seen = (
            writer.records().unwrap().len(),
            writer.data_end().unwrap(),
            writer.caps().unwrap(),
        );
        let _ = done.send(seen);
    });
    let (count, end, caps) = wait
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("reads finish while the lock is held");
    assert_eq!((count, end, caps.len()), (2, 2 * RECORD_LEN as u64, 0));
}

/// A large course's first deadline (issue: "No space left on device" past ~90 frozen students,
/// every cap being two xattrs on the one journal file): 10,000 students frozen in one step.
#[test]
fn ten_thousand_students_are_frozen_in_one_step() {
    let fx = Fixture::new();
    let writer = fx.writer();
    writer.append(&[fx.message("before")]).unwrap();
    let delinquent: Vec<(journal::Username, Restriction)> = (0..10_000)
        .map(|i| (user_named(&format!("s{i:05}")), Restriction::Deny))
        .collect();
    writer.restrict_many(&delinquent).unwrap();
    writer
        .append(&[fx.message("released after the freeze")])
        .unwrap();
    assert_eq!(writer.caps().unwrap().len(), 10_000);
    assert_eq!(fx.visible("s04242").len(), 1, "frozen before the release");
    assert_eq!(fx.visible("s09999").len(), 1);
    assert_eq!(fx.visible("teacher").len(), 2, "nobody else is capped");
    // Lifting one leaves the others frozen.
    writer
        .restrict(&user_named("s04242"), Restriction::Allow)
        .unwrap();
    assert_eq!(fx.visible("s04242").len(), 2);
    assert_eq!(fx.visible("s04243").len(), 1);
    assert!(verify_ok(&fx), "verify accepts the caps file");
}

/// A seed journal keeps its caps in xattrs: they are honoured as they are, and move into the
/// caps file, exactly, with the first restriction written.
#[test]
fn the_seeds_xattr_caps_are_honoured_and_moved_into_the_caps_file() {
    let fx = Fixture::new();
    let writer = fx.writer();
    writer
        .append(&[fx.message("one"), fx.message("two")])
        .unwrap();
    set_offset(&fx.journal, &cap_xattr(&user_named("bob")), R);
    writer.append(&[fx.message("three")]).unwrap();
    assert_eq!(fx.visible("bob").len(), 1, "the seed's cap applies");
    writer
        .restrict(&user_named("carol"), Restriction::Deny)
        .unwrap();
    assert_eq!(fx.visible("bob").len(), 1, "bob's cap moved, unchanged");
    assert_eq!(fx.visible("carol").len(), 3);
    assert_eq!(
        get_offset(&fx.journal, &cap_xattr(&user_named("bob"))),
        None
    );
    let caps: Vec<(String, u64)> = writer
        .caps()
        .unwrap()
        .into_iter()
        .map(|(u, c)| (u.to_string(), c))
        .collect();
    assert_eq!(caps, [("bob".to_string(), R), ("carol".to_string(), 3 * R)]);
    assert!(verify_ok(&fx));
}
