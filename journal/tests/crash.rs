//! Crash safety: an appender SIGKILLed at any moment leaves a journal that verifies, whose
//! readers ignore the unfinished tail, and that the next append extends normally.
//!
//! The work is done by child processes (this test binary re-run on `child_process`), because
//! only a separate process can be killed in the middle of an append.

mod common;

use std::env;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Fixture, acked, assert_octets_match, assert_success, child, names, user_named};
use journal::attrs::DATA_END_XATTR;
use journal::{MessageId, RECORD_LEN, Snapshot, verify};
use rand::Rng;

const ROLE: &str = "JOURNAL_CRASH_ROLE";
const DIR: &str = "JOURNAL_CRASH_DIR";

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_process() {
    let Ok(role) = env::var(ROLE) else { return };
    let fx = Fixture::open(Path::new(&env::var(DIR).unwrap()));
    // The harness has printed "test child_process ... " without a newline; our protocol lines
    // must start lines of their own.
    println!();
    match role.as_str() {
        "append-forever" => append_forever(&fx),
        "write-then-hang" => write_then_hang(&fx),
        other => panic!("unknown role {other}"),
    }
}

/// Appends batches until killed, acknowledging each after `append` returned.
fn append_forever(fx: &Fixture) {
    let writer = fx.writer();
    let mut rng = rand::rng();
    loop {
        let bodies: Vec<String> = (0..rng.random_range(1..=20))
            .map(|i| i.to_string())
            .collect();
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        let records = fx.messages(&bodies);
        writer.append(&records).unwrap();
        let ids: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
        println!("ACK {}", ids.join(" "));
    }
}

/// Does the first half of an append by hand, holding the writer lock like a real appender:
/// records written and flushed past `data_end`, which is never moved. Then waits to be killed.
fn write_then_hang(fx: &Fixture) {
    let lock = OpenOptions::new()
        .write(true)
        .open(fx.writer().lock_path())
        .unwrap();
    lock.lock().unwrap();
    let journal = OpenOptions::new().write(true).open(&fx.journal).unwrap();
    let end = common::get_offset(&fx.journal, DATA_END_XATTR).unwrap();
    let records = fx.messages(&["tail 1", "tail 2", "tail 3"]);
    let bytes: Vec<u8> = records.iter().flat_map(|r| r.encode()).collect();
    journal.write_all_at(&bytes, end).unwrap();
    journal.sync_data().unwrap();
    let ids: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
    println!("TAIL {}", ids.join(" "));
    println!("WROTE");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn spawn(fx: &Fixture, role: &str) -> Child {
    child(
        "child_process",
        &[(ROLE, role), (DIR, fx.path().to_str().unwrap())],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

fn committed_len(fx: &Fixture) -> u64 {
    Snapshot::open(&fx.journal, &user_named("watcher"))
        .unwrap()
        .limit_bytes()
}

/// Everything a crash must leave true: verify accepts, readers see exactly the committed
/// records, every acknowledged append is there, and the next append works.
fn assert_recovered(fx: &Fixture, acknowledged: &[MessageId]) {
    let report = verify(&fx.journal, &fx.store, &|_, _| {}).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
    let snap = Snapshot::open(&fx.journal, &user_named("alice")).unwrap();
    assert_eq!(snap.limit_bytes(), fx.writer().data_end().unwrap());
    assert_octets_match(&snap);
    let visible = names(&snap);
    for id in acknowledged {
        assert!(visible.contains(id), "acknowledged append of {id} lost");
    }
    let next = fx.message("after the crash");
    assert_eq!(fx.writer().append(&[next]).unwrap().appended, 1);
    assert_eq!(*fx.visible("alice").last().unwrap(), next.name);
}

#[test]
fn appender_killed_at_a_random_moment_leaves_a_consistent_journal() {
    let fx = Fixture::new();
    let mut rng = rand::rng();
    let mut acknowledged = Vec::new();
    for _round in 0..8 {
        let start = committed_len(&fx);
        let mut appender = spawn(&fx, "append-forever");
        // Let it get going so the kill lands among appends, not before the first.
        while committed_len(&fx) == start {
            if let Some(status) = appender.try_wait().unwrap() {
                panic!("appender exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        appender.kill().unwrap();
        let output = appender.wait_with_output().unwrap();
        assert!(
            !output.status.success(),
            "the appender should have been killed"
        );
        acknowledged.extend(acked(&output.stdout));
        assert_recovered(&fx, &acknowledged);
    }
    assert!(!acknowledged.is_empty());
}

#[test]
fn appender_killed_before_moving_data_end_leaves_an_ignored_tail() {
    let fx = Fixture::new();
    let released = [fx.message("one"), fx.message("two")];
    fx.writer().append(&released).unwrap();

    let mut appender = spawn(&fx, "write-then-hang");
    let mut tail: Vec<MessageId> = Vec::new();
    for line in BufReader::new(appender.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(ids) = line.strip_prefix("TAIL ") {
            tail = ids.split(' ').map(|id| id.parse().unwrap()).collect();
        }
        if line == "WROTE" {
            break;
        }
    }
    appender.kill().unwrap();
    appender.wait().unwrap();
    assert_eq!(tail.len(), 3, "child did not report its records");

    let len = File::open(&fx.journal).unwrap().metadata().unwrap().len();
    assert_eq!(len, 5 * RECORD_LEN as u64, "the unfinished tail is on disk");
    assert_eq!(
        fx.visible("alice"),
        vec![released[0].name, released[1].name]
    );
    // The killed writer's lock died with it, and the tail was never committed: appending the
    // same messages now really appends them.
    let retry: Vec<_> = tail
        .iter()
        .map(|id| {
            fx.store
                .meta(id)
                .map(|meta| journal::Record::new(*id, meta))
        })
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(fx.writer().append(&retry).unwrap().appended, 3);
    assert_recovered(&fx, &tail);
}

#[test]
fn child_output_helper_ignores_unfinished_lines() {
    let id = "0123456789abcdef01234567890001";
    let out = format!("running 1 test\nACK {id}\nACK 0123");
    assert_eq!(acked(out.as_bytes()), vec![id.parse().unwrap()]);
    assert_success(
        &child("child_process", &[]).output().unwrap(),
        "child without a role",
    );
}
