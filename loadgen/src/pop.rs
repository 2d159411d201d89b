//! POP3 load: concurrent sessions in a loop, and the login the idle hold uses.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};

use crate::cli::{PopArgs, Security, Target};
use crate::conn::Client;
use crate::rss::rss_kib;
use crate::stats::Stats;

/// Runs `concurrency` clients doing full sessions back to back for the duration.
pub async fn run_busy(args: PopArgs) -> Result<()> {
    let args = Arc::new(args);
    let deadline = Instant::now() + args.duration;
    let rss_before = args.target.server_pid.and_then(rss_kib);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..args.concurrency {
        let args = args.clone();
        tasks.spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                match session(&args, client).await {
                    Ok(()) => stats.ok(began.elapsed()),
                    Err(e) => stats.error(&e),
                }
            }
            stats
        });
    }
    let mut stats = Stats::default();
    while let Some(s) = tasks.join_next().await {
        stats.merge(s?);
    }
    let elapsed = start.elapsed();
    println!(
        "POP3 {} clients, {:?}, {} RETR per session{}",
        args.concurrency,
        args.target.security,
        args.retr,
        if args.stat_only {
            ", login+STAT only"
        } else {
            ""
        }
    );
    stats.report("session", elapsed);
    if let (Some(before), Some(pid)) = (rss_before, args.target.server_pid) {
        println!(
            "{:<12} {} KiB -> {} KiB",
            "server rss",
            before,
            rss_kib(pid).unwrap_or(0)
        );
    }
    Ok(())
}

/// One session: login, STAT, LIST, UIDL, RETR of the first k messages, QUIT.
async fn session(args: &PopArgs, client: usize) -> Result<()> {
    let mut c = login(&args.target, client).await?;
    let stat = ok(&mut c, b"STAT\r\n").await?;
    let count: usize = stat
        .split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !args.stat_only {
        ok(&mut c, b"LIST\r\n").await?;
        c.multiline().await?;
        ok(&mut c, b"UIDL\r\n").await?;
        c.multiline().await?;
    }
    for n in 1..=args.retr.min(count) {
        ok(&mut c, format!("RETR {n}\r\n").as_bytes()).await?;
        c.multiline().await?;
    }
    ok(&mut c, b"QUIT\r\n").await?;
    Ok(())
}

/// Connects, upgrades if asked, and logs in with USER/PASS.
pub async fn login(target: &Target, client: usize) -> Result<Client> {
    let mut c = Client::connect(target.addr, target.security == Security::Tls).await?;
    expect_ok(c.line().await?)?;
    if target.security == Security::Starttls {
        ok(&mut c, b"STLS\r\n").await?;
        c = c.upgrade().await?;
    }
    ok(
        &mut c,
        format!("USER {}\r\n", target.username(client)).as_bytes(),
    )
    .await?;
    ok(&mut c, format!("PASS {}\r\n", target.password).as_bytes()).await?;
    Ok(c)
}

/// Sends a command and requires `+OK`; returns the status line.
async fn ok(c: &mut Client, command: &[u8]) -> Result<String> {
    c.send(command).await?;
    let line = c.line().await?;
    expect_ok(line)
}

fn expect_ok(line: &[u8]) -> Result<String> {
    let text = String::from_utf8_lossy(line).trim_end().to_string();
    if !text.starts_with("+OK") {
        bail!("server said {text:?}");
    }
    Ok(text)
}
