//! Rebuild: sorted from mail/, atomic swap, stale temporaries, and caps that never leak.

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::fs;

use common::{Fixture, get_offset, names, names_of, set_offset, user_named};
use journal::attrs::{DATA_END_XATTR, cap_xattr};
use journal::{JournalError, RECORD_LEN, RebuildSelection, Record, Restriction, Snapshot, verify};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const R: u64 = RECORD_LEN as u64;

fn no_progress(_: u64, _: u64) {}

/// Four stored messages, in id order.
fn four(fx: &Fixture) -> [Record; 4] {
    [
        fx.message("a"),
        fx.message("b"),
        fx.message("c"),
        fx.message("d"),
    ]
}

#[test]
fn rebuild_sorts_by_id_and_takes_sizes_from_mail() {
    let fx = Fixture::new();
    let [a, b, c, d] = four(&fx);
    let writer = fx.writer();
    let mut wrong = c;
    wrong.size += 7;
    writer.append(&[wrong, a, d, b]).unwrap();
    assert!(
        !verify(&fx.journal, &fx.store, &no_progress)
            .unwrap()
            .is_consistent()
    );

    let report = writer
        .rebuild(&fx.store, RebuildSelection::Journal, &no_progress)
        .unwrap();
    assert_eq!(report.records, 4);
    assert_eq!(report.data_end, 4 * R);
    assert_eq!(writer.records().unwrap(), vec![a, b, c, d]);
    assert!(
        verify(&fx.journal, &fx.store, &no_progress)
            .unwrap()
            .is_consistent()
    );
}

#[test]
fn rebuild_from_the_journal_releases_nothing_new_and_drops_missing_mail() {
    let fx = Fixture::new();
    let [a, b, c, _unreleased] = four(&fx);
    let writer = fx.writer();
    writer.append(&[c, a, b]).unwrap();
    fs::remove_file(fx.store.path(&b.name)).unwrap();
    let report = writer
        .rebuild(&fx.store, RebuildSelection::Journal, &no_progress)
        .unwrap();
    assert_eq!(report.missing, vec![b.name]);
    assert_eq!(names_of(&writer.records().unwrap()), vec![a.name, c.name]);
}

#[test]
fn rebuild_removes_a_stale_temporary() {
    let fx = Fixture::new();
    let stale = fx.root.journal_dir().join("journal.rebuild");
    fs::write(&stale, "left by a crash").unwrap();
    let report = fx
        .writer()
        .rebuild(&fx.store, RebuildSelection::Journal, &no_progress)
        .unwrap();
    assert!(report.removed_stale_temporary);
    assert!(!stale.exists());
    let names: Vec<_> = fs::read_dir(fx.root.journal_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n == "journal" || n == "journal.lock"),
        "{names:?}"
    );
}

#[test]
fn rebuild_translates_caps_without_leaking() {
    let fx = Fixture::new();
    let [a, b, c, d] = four(&fx);
    let writer = fx.writer();
    // Released c, a; then frost freezes; then d, b.
    writer.append(&[c, a]).unwrap();
    writer
        .restrict(&user_named("frost"), Restriction::Deny)
        .unwrap();
    writer.append(&[d]).unwrap();
    writer
        .restrict(&user_named("late"), Restriction::Deny)
        .unwrap();
    writer.append(&[b]).unwrap();
    writer
        .restrict(&user_named("current"), Restriction::Update)
        .unwrap();
    assert_eq!(fx.visible("frost"), vec![c.name, a.name]);

    let report = writer
        .rebuild(&fx.store, RebuildSelection::Journal, &no_progress)
        .unwrap();
    // New order a b c d. frost saw {c, a}: a is fine, b was never seen, so the cap stops there.
    // A verbatim copy (96) would have shown them b, a peer's work.
    assert_eq!(fx.visible("frost"), vec![a.name]);
    // late saw {c, a, d}: a is fine, b was never seen.
    assert_eq!(fx.visible("late"), vec![a.name]);
    assert_eq!(fx.visible("current"), vec![a.name, b.name, c.name, d.name]);
    assert_eq!(fx.visible("free").len(), 4);
    let frost = report.caps.iter().find(|c| c.owner == "frost").unwrap();
    assert_eq!((frost.old, frost.new), (Some(2 * R), R));
    assert_eq!(report.caps.len(), 3);
}

#[test]
fn rebuild_from_all_mail_hides_new_releases_from_frozen_users() {
    let fx = Fixture::new();
    let [a, b, c, d] = four(&fx);
    let writer = fx.writer();
    writer.append(&[a, b]).unwrap();
    writer
        .restrict(&user_named("frost"), Restriction::Deny)
        .unwrap();
    writer.append(&[d]).unwrap();
    let report = writer
        .rebuild(&fx.store, RebuildSelection::AllMail, &no_progress)
        .unwrap();
    assert_eq!(report.records, 4);
    assert_eq!(fx.visible("free"), vec![a.name, b.name, c.name, d.name]);
    assert_eq!(fx.visible("frost"), vec![a.name, b.name]);
}

#[test]
fn rebuild_from_all_mail_recovers_a_journal_without_data_end() {
    let fx = Fixture::new();
    let [a, b, ..] = four(&fx);
    let writer = fx.writer();
    writer.append(&[b]).unwrap();
    writer
        .restrict(&user_named("frost"), Restriction::Update)
        .unwrap();
    xattr::remove(&fx.journal, DATA_END_XATTR).unwrap();
    assert!(matches!(
        writer.rebuild(&fx.store, RebuildSelection::Journal, &no_progress),
        Err(JournalError::NoDataEnd { .. })
    ));
    writer
        .rebuild(&fx.store, RebuildSelection::AllMail, &no_progress)
        .unwrap();
    assert_eq!(fx.visible("free")[..2], [a.name, b.name]);
    // Nothing is known to have been visible, so the frozen user sees nothing.
    assert!(fx.visible("frost").is_empty());
}

#[test]
fn old_snapshot_keeps_its_view_across_a_rebuild() {
    let fx = Fixture::new();
    let [a, b, c, _] = four(&fx);
    let writer = fx.writer();
    writer.append(&[c, a, b]).unwrap();
    let before = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    writer
        .rebuild(&fx.store, RebuildSelection::AllMail, &no_progress)
        .unwrap();
    assert_eq!(names(&before), vec![c.name, a.name, b.name]);
    assert_eq!(fx.visible("alice").len(), 4);
}

#[test]
fn rebuild_keeps_the_journal_mode_and_reports_progress_to_completion() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let records: Vec<_> = (0..3000).map(|i| fx.message(&i.to_string())).collect();
    fx.writer().append(&records).unwrap();
    fs::set_permissions(&fx.journal, fs::Permissions::from_mode(0o644)).unwrap();
    let last = Cell::new((0, 0));
    let calls = Cell::new(0);
    fx.writer()
        .rebuild(&fx.store, RebuildSelection::Journal, &|done, total| {
            assert!(done <= total && done >= last.get().0);
            last.set((done, total));
            calls.set(calls.get() + 1);
        })
        .unwrap();
    assert_eq!(last.get(), (3000, 3000));
    assert!(calls.get() > 2);
    let mode = fs::metadata(&fx.journal).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn rebuilt_caps_never_show_a_message_the_user_could_not_see_before() {
    let fx = Fixture::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let pool: Vec<_> = (0..40).map(|i| fx.message(&format!("m{i}"))).collect();
    let writer = fx.writer();
    for round in 0..20 {
        let mut batch = pool.clone();
        batch.shuffle(&mut rng);
        batch.truncate(rng.random_range(0..4));
        writer.append(&batch).unwrap();
        let user = user_named(&format!("u{}", rng.random_range(0..6)));
        let how =
            [Restriction::Deny, Restriction::Update, Restriction::Allow][rng.random_range(0..3)];
        writer.restrict(&user, how).unwrap();

        if round % 4 == 3 {
            let users: Vec<String> = (0..6).map(|u| format!("u{u}")).collect();
            let before: Vec<HashSet<_>> = users
                .iter()
                .map(|u| fx.visible(u).into_iter().collect())
                .collect();
            let selection = if round % 8 == 3 {
                RebuildSelection::AllMail
            } else {
                RebuildSelection::Journal
            };
            writer.rebuild(&fx.store, selection, &no_progress).unwrap();
            for (u, saw) in users.iter().zip(&before) {
                let capped = writer
                    .caps()
                    .unwrap()
                    .iter()
                    .any(|(who, _)| who.as_str() == u);
                let now: HashSet<_> = fx.visible(u).into_iter().collect();
                if capped {
                    assert!(now.is_subset(saw), "{u} gained {:?}", now.difference(saw));
                } else {
                    assert!(saw.is_subset(&now), "{u} lost messages without a cap");
                }
            }
            assert!(
                verify(&fx.journal, &fx.store, &no_progress)
                    .unwrap()
                    .is_consistent()
            );
        }
    }
}

#[test]
fn cap_not_on_a_record_boundary_is_rounded_down_by_rebuild() {
    let fx = Fixture::new();
    let [a, b, ..] = four(&fx);
    let writer = fx.writer();
    writer.append(&[a, b]).unwrap();
    set_offset(&fx.journal, &cap_xattr(&user_named("odd")), R + 20);
    writer
        .rebuild(&fx.store, RebuildSelection::Journal, &no_progress)
        .unwrap();
    assert_eq!(
        get_offset(&fx.journal, &cap_xattr(&user_named("odd"))),
        Some(R)
    );
}

#[test]
fn rebuild_leaves_out_a_message_whose_header_length_is_damaged() {
    let fx = Fixture::new();
    let records = fx.messages(&["a", "b", "c"]);
    fx.writer().append(&records).unwrap();
    let ids = names_of(&records);
    // A header length beyond the file would make a record every reader rejects.
    let path = fx.store.path(&ids[1]);
    xattr::set(
        &path,
        journal::store::HEADER_LEN_XATTR,
        &1_000_000u64.to_le_bytes(),
    )
    .unwrap();
    let report = fx
        .writer()
        .rebuild(&fx.store, RebuildSelection::Journal, &|_, _| {})
        .unwrap();
    assert_eq!(report.missing, vec![ids[1]]);
    assert_eq!(
        names_of(&fx.writer().records().unwrap()),
        vec![ids[0], ids[2]]
    );
}
