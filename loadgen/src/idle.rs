//! Idle holds: open many connections, log each in with the protocol's login, hold them, and
//! report the server's memory per connection. Shared by `pop-idle` and `smtp-idle`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::{IdleArgs, Target};
use crate::conn::Client;
use crate::rss::rss_kib;
use crate::stats::Stats;

/// Opens and logs in `args.connections` sessions with `login`, holds them, then reports the
/// server's memory; ends every session with QUIT (the same word in POP3 and SMTP).
pub async fn run<F, Fut>(protocol: &str, args: IdleArgs, login: F) -> Result<()>
where
    F: Fn(Arc<Target>, usize) -> Fut,
    Fut: Future<Output = Result<Client>> + Send + 'static,
{
    let rss_before = args.target.server_pid.and_then(rss_kib);
    let start = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.ramp));
    let target = Arc::new(args.target.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.connections {
        let gate = gate.clone();
        let session = login(target.clone(), i);
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await;
            let began = Instant::now();
            let result = session.await.map(|c| (c, began.elapsed()));
            drop(permit);
            result
        });
    }
    let mut held = Vec::with_capacity(args.connections);
    let mut stats = Stats::default();
    while let Some(r) = tasks.join_next().await {
        match r? {
            Ok((c, latency)) => {
                stats.ok(latency);
                held.push(c);
            }
            Err(e) => stats.error(&e),
        }
    }
    let opened = start.elapsed();
    println!(
        "{protocol} idle: {} connections logged in, {:?}",
        held.len(),
        args.target.security
    );
    stats.report("login", opened);
    // Let the server settle (buffers released after the greeting and login) before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let (Some(before), Some(pid)) = (rss_before, args.target.server_pid) {
        let after = rss_kib(pid).unwrap_or(0);
        let per = (after.saturating_sub(before) as f64 * 1024.0) / held.len().max(1) as f64;
        println!("{:<12} {} KiB -> {} KiB", "server rss", before, after);
        println!(
            "{:<12} {:.1} KiB per idle connection",
            "per conn",
            per / 1024.0
        );
    }
    tokio::time::sleep(args.hold).await;
    for mut c in held {
        let _ = c.send(b"QUIT\r\n").await;
    }
    Ok(())
}
