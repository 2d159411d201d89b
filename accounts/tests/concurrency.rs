//! Several processes on one accounts database, as in production: the web and the CLI write
//! while smtp and pop read. The second process is this test binary re-run with an env var.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use accounts::{Accounts, NewUser, Role};
use journal::Username;

const CHILD_DB: &str = "ACCOUNTS_TEST_CONCURRENCY_CHILD_DB";
const DONE: &str = "child: wrote all users";
const TEST: &str = "two_processes_write_and_read_at_once";
const USERS_PER_WRITER: usize = 150;

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        full_name: username.to_string(),
        student_id: Some(format!("id-{username}")),
        role: Role::Student,
        password: None,
    }
}

/// Adds users `<prefix>0..`, reading the roster between writes.
fn write_users(accounts: &Accounts, prefix: &str) {
    for i in 0..USERS_PER_WRITER {
        accounts
            .add_user(&new_user(&format!("{prefix}{i}")))
            .unwrap();
        let listed = accounts.list_users().unwrap();
        assert!(
            listed
                .iter()
                .any(|u| u.username.as_str() == format!("{prefix}{i}"))
        );
    }
}

#[test]
fn two_processes_write_and_read_at_once() {
    if let Ok(db) = std::env::var(CHILD_DB) {
        let accounts = Accounts::open(Path::new(&db)).unwrap();
        write_users(&accounts, "child");
        println!("{DONE}");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("accounts.db");
    let accounts = Arc::new(Accounts::open(&path).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Start writing once the child is writing, so the two really overlap.
    let reader = Accounts::open_read_only(&path).unwrap();
    let child_started = |r: &Accounts| {
        r.list_users()
            .unwrap()
            .iter()
            .any(|u| u.username.as_str().starts_with("child"))
    };
    while !child_started(&reader) && child.try_wait().unwrap().is_none() {
        std::thread::yield_now();
    }
    // Meanwhile: this process writes too, and a read-only handle keeps reading.
    let writer = {
        let accounts = Arc::clone(&accounts);
        std::thread::spawn(move || write_users(&accounts, "parent"))
    };
    let mut last_seen = 0;
    while !writer.is_finished() {
        let seen = reader.list_users().unwrap().len();
        assert!(seen >= last_seen, "a reader saw users disappear");
        last_seen = seen;
    }
    writer.join().unwrap();

    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(DONE),
        "child did not run:\n{stdout}\n{stderr}"
    );

    let names: Vec<String> = reader
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.username.to_string())
        .collect();
    assert_eq!(names.len(), 2 * USERS_PER_WRITER);
    for i in 0..USERS_PER_WRITER {
        for prefix in ["child", "parent"] {
            let name = format!("{prefix}{i}");
            assert!(names.contains(&name), "{name} is missing");
        }
    }
}

#[test]
fn threads_sharing_one_handle_work_in_parallel() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Arc::new(Accounts::open(&dir.path().join("accounts.db")).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let accounts = Arc::clone(&accounts);
            std::thread::spawn(move || {
                for i in 0..25 {
                    accounts.add_user(&new_user(&format!("t{t}u{i}"))).unwrap();
                    accounts.list_users().unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(accounts.list_users().unwrap().len(), 100);
}
