//! What a login costs: argon2 hashing and verification, cache hits, database lookups, session
//! lookups, the throttle under a flood of addresses, and a full `Authenticator` round trip.
//!
//! Run with `cargo bench -j2 -p accounts --bench auth`; prints one line per measurement.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accounts::throttle::ThrottleState;
use accounts::{Accounts, Authenticator, NewUser, Role, Throttle, ThrottleConfig, hash_password};
use journal::Username;

fn report(what: &str, iterations: u32, elapsed: Duration) {
    let per = elapsed / iterations;
    let rate = f64::from(iterations) / elapsed.as_secs_f64();
    println!("{what:<44} {iterations:>9} iters  {per:>12.3?}/op  {rate:>12.0} op/s");
}

fn measure(what: &str, iterations: u32, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    report(what, iterations, start.elapsed());
}

fn main() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let accounts = Arc::new(Accounts::open(&dir.path().join("accounts.db")).unwrap());
    let alice = Username::parse("alice").unwrap();
    accounts
        .add_user(&NewUser {
            username: alice.clone(),
            full_name: "Alice".into(),
            student_id: Some("s1".into()),
            role: Role::Student,
            password: Some("alice password".into()),
        })
        .unwrap();
    let token = accounts
        .create_session(&alice, Duration::from_secs(3600))
        .unwrap();

    measure("hash_password (argon2id m=19456 t=2 p=1)", 20, |_| {
        black_box(hash_password("alice password").unwrap());
    });
    measure("verify_password, wrong password (argon2)", 20, |_| {
        black_box(accounts.verify_password("alice", "wrong").unwrap());
    });
    measure("verify_password, unknown user (dummy argon2)", 20, |_| {
        black_box(accounts.verify_password("nobody", "wrong").unwrap());
    });
    measure("verify_password, cache hit", 20_000, |_| {
        black_box(accounts.verify_password("alice", "alice password").unwrap());
    });
    measure("get_user", 20_000, |_| {
        black_box(accounts.get_user(&alice).unwrap());
    });
    measure("session lookup", 20_000, |_| {
        black_box(accounts.session(token.as_str()).unwrap());
    });

    let mut state = ThrottleState::new(ThrottleConfig::default());
    let now = Instant::now();
    measure(
        "throttle reserve+failure, 1M distinct IPv4",
        1_000_000,
        |i| {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            black_box(state.reserve(now, client, "alice"));
            state.failure(now, client, "alice");
        },
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let auth = Authenticator::new(Arc::clone(&accounts), Arc::new(Throttle::default()));
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let iterations = 10_000;
    let start = Instant::now();
    runtime.block_on(async {
        for _ in 0..iterations {
            black_box(
                auth.authenticate(client, "alice", "alice password")
                    .await
                    .unwrap(),
            );
        }
    });
    report(
        "Authenticator::authenticate, cache hit",
        iterations,
        start.elapsed(),
    );
}
