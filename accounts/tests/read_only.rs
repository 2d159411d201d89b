//! Read-only access as the smtp and pop containers have it: `accounts/` mounted read-only while
//! web (a read-write process) keeps writing.
//!
//! The mount test re-runs this test binary inside `unshare --mount` (the self-exec trick); the
//! child bind-mounts the data directory onto itself, remounts it read-only, and reads through it
//! while the parent writes. It needs root and mount namespaces; where those are not permitted it
//! says why and passes, and the chmod test still covers read-only opening.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use accounts::{Accounts, AccountsError, NewUser, Role};
use journal::Username;

const CHILD_DIR: &str = "ACCOUNTS_TEST_READ_ONLY_CHILD_DIR";
const CHILD_TOKEN: &str = "ACCOUNTS_TEST_READ_ONLY_CHILD_TOKEN";
const READY: &str = "child: read-only reader ready";
const DONE: &str = "child: read-only checks passed";
const MOUNT_TEST: &str = "reader_on_a_read_only_mount_sees_the_writers_changes";

fn name(s: &str) -> Username {
    Username::parse(s).unwrap()
}

fn student(username: &str, password: &str) -> NewUser {
    NewUser {
        username: name(username),
        full_name: username.to_uppercase(),
        student_id: None,
        role: Role::Student,
        password: Some(password.to_string()),
    }
}

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Why mount namespaces cannot be used here, if they cannot.
fn mount_namespaces_unavailable() -> Option<String> {
    match Command::new("unshare")
        .args(["--mount", "true"])
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`unshare --mount` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

#[test]
fn reader_on_a_read_only_mount_sees_the_writers_changes() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let token = std::env::var(CHILD_TOKEN).unwrap();
        return read_only_child(Path::new(&dir), &token);
    }
    if let Some(why) = mount_namespaces_unavailable() {
        eprintln!("skipping the read-only mount test: {why}");
        return;
    }
    let root = data_dir();
    let dir = root.path().join("accounts");
    let path = dir.join("accounts.db");
    let writer = Accounts::open(&path).unwrap();
    writer
        .add_user(&student("alice", "alice password"))
        .unwrap();
    let token = writer
        .create_session(&name("alice"), Duration::from_secs(3600))
        .unwrap();
    // No writer is running when the reader starts: the WAL files must have outlived it.
    drop(writer);

    let mut child = Command::new("unshare")
        .arg("--mount")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", MOUNT_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, &dir)
        .env(CHILD_TOKEN, token.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Collected on the side so a failing child's panic message ends up in our assertion.
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        transcript.push(line.clone());
        // libtest prints "test NAME ... " without a newline before running it, so the marker
        // may share a line with it.
        if line.contains(READY) {
            break;
        }
    }
    if !transcript.iter().any(|l| l.contains(READY)) {
        let _ = child.wait();
        let errors = errors.join().unwrap_or_default();
        panic!("child never got ready: {transcript:#?}\n{errors}");
    }

    // Now write while the reader is running, from the parent's (writable) view.
    let writer = Accounts::open(&path).unwrap();
    writer
        .add_user(&student("carol", "carol password"))
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "go").unwrap();
    drop(stdin);

    transcript.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let errors = errors.join().unwrap_or_default();
    assert!(status.success(), "child failed: {transcript:#?}\n{errors}");
    assert!(
        transcript.iter().any(|l| l.contains(DONE)),
        "child did not run the checks: {transcript:#?}"
    );
    // The read-only remount stayed inside the child's namespace.
    writer.add_user(&student("dave", "dave password")).unwrap();
}

/// Runs in the child, in its own mount namespace.
fn read_only_child(dir: &Path, token: &str) {
    let target = dir.to_str().unwrap();
    for args in [
        vec!["--bind", target, target],
        vec!["-o", "remount,bind,ro", target],
    ] {
        let status = Command::new("mount").args(&args).status().unwrap();
        assert!(status.success(), "mount {args:?} failed");
    }
    let probe = std::fs::write(dir.join("probe"), b"x").unwrap_err();
    assert_eq!(
        probe.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem,
        "{probe}"
    );

    let path = dir.join("accounts.db");
    let rw = Accounts::open(&path).unwrap_err();
    assert!(
        matches!(
            rw,
            AccountsError::Database(database::DbError::NotWritable { .. })
        ),
        "{rw}"
    );

    let reader = Accounts::open_read_only(&path).unwrap();
    let alice = reader.get_user(&name("alice")).unwrap().unwrap();
    assert!(alice.has_password);
    assert!(
        reader
            .verify_password("alice", "alice password")
            .unwrap()
            .is_some()
    );
    assert!(reader.verify_password("alice", "wrong").unwrap().is_none());
    let session = reader.session(token).unwrap().unwrap();
    assert_eq!(session.user.username.as_str(), "alice");
    assert!(
        reader
            .add_user(&student("mallory", "mallory password"))
            .is_err()
    );
    println!("{READY}");

    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    assert_eq!(go.trim(), "go");
    let names: Vec<_> = reader
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.username.to_string())
        .collect();
    assert_eq!(names, ["alice", "carol"]);
    assert!(
        reader
            .verify_password("carol", "carol password")
            .unwrap()
            .is_some()
    );
    println!("{DONE}");
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn db_files(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

#[test]
fn read_only_open_works_on_a_0444_database_and_refuses_writes() {
    let root = data_dir();
    let path = root.path().join("accounts.db");
    let writer = Accounts::open(&path).unwrap();
    writer
        .add_user(&student("alice", "alice password"))
        .unwrap();
    drop(writer);
    let files = db_files(&path);
    assert!(files.iter().all(|f| f.exists()), "WAL files were not kept");
    for file in &files {
        set_mode(file, 0o444);
    }

    let reader = Accounts::open_read_only(&path).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.list_users().unwrap().len(), 1);
    assert!(
        reader
            .verify_password("alice", "alice password")
            .unwrap()
            .is_some()
    );
    // SQLITE_OPEN_READ_ONLY holds even for root, who could write the file itself.
    assert!(reader.add_user(&student("bob", "bob password")).is_err());
    assert!(
        reader
            .set_password(&name("alice"), "another password")
            .is_err()
    );
    drop(reader);

    for file in &files {
        set_mode(file, 0o600);
    }
    let writer = Accounts::open(&path).unwrap();
    assert!(
        writer
            .verify_password("alice", "alice password")
            .unwrap()
            .is_some()
    );
}
