//! Several processes appending, restricting and rebuilding at once while others read: no
//! append or cap is lost, and no reader ever sees a partial or repeated record.
//!
//! Each role runs in a child process (this test binary re-run on `child_process`), because the
//! guarantees are about separate processes sharing only the file system and its locks.

mod common;

use std::collections::HashSet;
use std::env;
use std::path::Path;
use std::process::{Child, Stdio};

use common::{Fixture, acked, assert_octets_match, assert_success, child, user_named};
use journal::{JournalWriter, RECORD_LEN, RebuildSelection, Restriction, Snapshot, verify};

const ROLE: &str = "JOURNAL_CONCURRENCY_ROLE";
const DIR: &str = "JOURNAL_CONCURRENCY_DIR";

const APPENDERS: usize = 3;
const RESTRICTERS: usize = 2;
const READERS: usize = 2;
const USERS_PER_RESTRICTER: usize = 6;
const BATCHES: usize = 25;

fn batch_len(batch: usize) -> usize {
    batch % 4 + 1
}

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = env::var(ROLE) else { return };
    let fx = Fixture::open(Path::new(&env::var(DIR).unwrap()));
    // The harness has printed "test child_process ... " without a newline.
    println!();
    let (role, n) = role.split_once(':').unwrap_or((role.as_str(), "0"));
    let n: usize = n.parse().unwrap();
    match role {
        "append" => append(&fx),
        "restrict" => restrict(&fx.writer(), n),
        "rebuild" => rebuild(&fx),
        "read" => read(&fx),
        other => panic!("unknown role {other}"),
    }
}

fn append(fx: &Fixture) {
    let writer = fx.writer();
    for batch in 0..BATCHES {
        let bodies: Vec<String> = (0..batch_len(batch))
            .map(|i| format!("{batch}.{i}"))
            .collect();
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let records = fx.messages(&bodies);
        // A concurrent rebuild from all mail may have released them already.
        let outcome = writer.append(&records).unwrap();
        assert_eq!(outcome.appended + outcome.already_present, records.len());
        // Released again, e.g. a deadline re-run: must be a no-op even across rebuilds.
        assert_eq!(writer.append(&records).unwrap().appended, 0);
        let ids: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
        println!("ACK {}", ids.join(" "));
    }
}

fn user(restricter: usize, j: usize) -> String {
    format!("u{restricter}.{j}")
}

/// The last restriction restricter `k` applies to its user `j`, which the parent checks.
fn final_restriction(j: usize) -> Restriction {
    [Restriction::Allow, Restriction::Deny, Restriction::Update][j % 3]
}

fn restrict(writer: &JournalWriter, k: usize) {
    let cycle = [Restriction::Deny, Restriction::Update, Restriction::Allow];
    for round in 0..12 {
        for j in 0..USERS_PER_RESTRICTER {
            writer
                .restrict(&user_named(&user(k, j)), cycle[(round + j) % 3])
                .unwrap();
        }
    }
    for j in 0..USERS_PER_RESTRICTER {
        writer
            .restrict(&user_named(&user(k, j)), final_restriction(j))
            .unwrap();
    }
}

/// Set by the parent once appenders and restricters are done; rebuilders and readers keep
/// going until then, so they overlap with every write.
fn stopped(fx: &Fixture) -> bool {
    fx.path().join("stop").exists()
}

fn rebuild(fx: &Fixture) {
    let writer = fx.writer();
    let mut i = 0;
    while i < 3 || !stopped(fx) {
        i += 1;
        let selection = if i % 2 == 0 {
            RebuildSelection::Journal
        } else {
            RebuildSelection::AllMail
        };
        writer.rebuild(&fx.store, selection, &|_, _| {}).unwrap();
    }
}

/// Opens snapshots over and over; every record must decode and appear once.
fn read(fx: &Fixture) {
    let users = [user_named("reader"), user_named(&user(0, 1))];
    let mut i = 0;
    while i < 50 || !stopped(fx) {
        i += 1;
        for u in &users {
            let snap = Snapshot::open(&fx.journal, u).unwrap();
            assert_eq!(snap.limit_bytes(), (snap.len() * RECORD_LEN) as u64);
            assert_octets_match(&snap);
            let mut seen = HashSet::new();
            for record in snap.iter() {
                let record = record.unwrap();
                assert!(seen.insert(record.name), "{} listed twice", record.name);
            }
        }
    }
}

fn spawn(fx: &Fixture, role: String) -> (String, Child) {
    let child = child(
        "child_process",
        &[(ROLE, &role), (DIR, fx.path().to_str().unwrap())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    (role, child)
}

#[test]
fn processes_append_restrict_rebuild_and_read_at_once_without_losing_anything() {
    let fx = Fixture::new();
    fx.writer().append(&fx.messages(&["welcome"])).unwrap();

    let mut roles: Vec<String> = Vec::new();
    roles.extend((0..APPENDERS).map(|k| format!("append:{k}")));
    roles.extend((0..RESTRICTERS).map(|k| format!("restrict:{k}")));
    roles.extend((0..READERS).map(|k| format!("read:{k}")));
    roles.push("rebuild".to_string());
    let children: Vec<_> = roles.into_iter().map(|r| spawn(&fx, r)).collect();

    let mut children = children.into_iter();
    let mut outputs = Vec::new();
    for (role, child) in children.by_ref().take(APPENDERS + RESTRICTERS) {
        outputs.push((role, child.wait_with_output().unwrap()));
    }
    std::fs::write(fx.path().join("stop"), "").unwrap();
    for (role, child) in children {
        outputs.push((role, child.wait_with_output().unwrap()));
    }
    let mut acknowledged = Vec::new();
    for (role, output) in &outputs {
        assert_success(output, role);
        acknowledged.extend(acked(&output.stdout));
    }
    let per_appender: usize = (0..BATCHES).map(batch_len).sum();
    assert_eq!(acknowledged.len(), APPENDERS * per_appender);

    let writer = fx.writer();
    let released: Vec<_> = writer.records().unwrap().iter().map(|r| r.name).collect();
    let unique: HashSet<_> = released.iter().copied().collect();
    assert_eq!(unique.len(), released.len(), "a message was released twice");
    for id in &acknowledged {
        assert!(unique.contains(id), "acknowledged append of {id} lost");
    }

    let caps: HashSet<String> = writer
        .caps()
        .unwrap()
        .into_iter()
        .map(|(u, _)| u.to_string())
        .collect();
    for k in 0..RESTRICTERS {
        for j in 0..USERS_PER_RESTRICTER {
            let expect_cap = final_restriction(j) != Restriction::Allow;
            assert_eq!(
                caps.contains(&user(k, j)),
                expect_cap,
                "cap of {}",
                user(k, j)
            );
        }
    }
    let report = verify(&fx.journal, &fx.store, &|_, _| {}).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
}
