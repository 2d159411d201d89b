//! SMTP load: concurrent clients that log in once and then submit messages back to back
//! (MAIL, RCPT, DATA, pipelined when the server offers PIPELINING), and the login the idle
//! hold uses. Only the protocol is assumed, so any submission server can be measured.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;

use crate::cli::{Security, SmtpArgs, Target};
use crate::conn::Client;
use crate::rss::rss_kib;
use crate::stats::Stats;

/// Runs `concurrency` submitting clients for the duration and reports messages/s and the
/// latency of each message (MAIL to the reply after the final dot).
pub async fn run_busy(args: SmtpArgs) -> Result<()> {
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
                if let Err(e) = session(&args, client, deadline, &mut stats).await {
                    stats.error(&e);
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
        "SMTP {} clients, {:?}, {} byte messages to {}",
        args.concurrency,
        args.target.security,
        args.size,
        args.recipient()
    );
    stats.report("message", elapsed);
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

/// One session: login, then messages until the deadline, then QUIT.
async fn session(
    args: &SmtpArgs,
    client: usize,
    deadline: Instant,
    stats: &mut Stats,
) -> Result<()> {
    let (mut c, pipelining) = login_with_extensions(&args.target, client).await?;
    let from = format!("{}@{}", args.target.username(client), args.domain);
    let rcpt = args.recipient();
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let message = message(&from, &rcpt, client, n, args.size);
        let began = Instant::now();
        let envelope = [
            format!("MAIL FROM:<{from}>\r\n"),
            format!("RCPT TO:<{rcpt}>\r\n"),
            "DATA\r\n".to_string(),
        ];
        let mut replies = Vec::with_capacity(3);
        if pipelining {
            c.send(envelope.concat().as_bytes()).await?;
            for _ in &envelope {
                replies.push(reply(&mut c).await?);
            }
        } else {
            for command in &envelope {
                c.send(command.as_bytes()).await?;
                let r = reply(&mut c).await?;
                let refused = !r.starts_with(['2', '3']);
                replies.push(r);
                if refused {
                    break;
                }
            }
        }
        // 452 to MAIL: the server wants no more messages in this session (a per-session limit);
        // start a new one rather than count an error.
        if replies[0].starts_with("452") {
            break;
        }
        for (r, code) in replies.iter().zip(["250", "250", "354"]) {
            if !r.starts_with(code) {
                bail!("expected {code}, server said {:?}", r.trim_end());
            }
        }
        c.send(&message).await?;
        expect(&mut c, "250").await?;
        stats.ok(began.elapsed());
    }
    command_expect(&mut c, "QUIT\r\n", "221").await?;
    Ok(())
}

/// A message of about `size` bytes: a small header, then 78-character lines.
fn message(from: &str, rcpt: &str, client: usize, n: u64, size: usize) -> Vec<u8> {
    let mut text = format!(
        "From: <{from}>\r\nTo: <{rcpt}>\r\nSubject: loadgen {client} {n}\r\n\
         Message-ID: <loadgen.{client}.{n}@loadgen>\r\n\r\n"
    )
    .into_bytes();
    while text.len() + 80 <= size {
        text.extend_from_slice(&[b'x'; 78]);
        text.extend_from_slice(b"\r\n");
    }
    text.extend_from_slice(b".\r\n");
    text
}

/// Connects, greets, upgrades if asked, and authenticates with AUTH PLAIN.
pub async fn login(target: &Target, client: usize) -> Result<Client> {
    login_with_extensions(target, client).await.map(|(c, _)| c)
}

/// Like [`login`], also saying whether the server offers PIPELINING.
async fn login_with_extensions(target: &Target, client: usize) -> Result<(Client, bool)> {
    let mut c = Client::connect(target.addr, target.security == Security::Tls).await?;
    expect(&mut c, "220").await?;
    let mut ehlo = command_expect(&mut c, "EHLO loadgen\r\n", "250").await?;
    if target.security == Security::Starttls {
        command_expect(&mut c, "STARTTLS\r\n", "220").await?;
        c = c.upgrade().await?;
        ehlo = command_expect(&mut c, "EHLO loadgen\r\n", "250").await?;
    }
    let pipelining = ehlo.lines().any(|l| l.get(4..) == Some("PIPELINING"));
    let credentials = format!("\0{}\0{}", target.username(client), target.password);
    let plain = base64::engine::general_purpose::STANDARD.encode(credentials);
    command_expect(&mut c, &format!("AUTH PLAIN {plain}\r\n"), "235")
        .await
        .context("AUTH PLAIN")?;
    Ok((c, pipelining))
}

/// Sends a command and requires a reply with `code`; returns the whole reply.
async fn command_expect(c: &mut Client, command: &str, code: &str) -> Result<String> {
    c.send(command.as_bytes()).await?;
    expect(c, code).await.with_context(|| {
        let verb = command.split_whitespace().next().unwrap_or("");
        format!("after {verb}")
    })
}

/// Reads one reply (all lines of a multi-line one).
async fn reply(c: &mut Client) -> Result<String> {
    let mut reply = String::new();
    loop {
        let line = String::from_utf8_lossy(c.line().await?).into_owned();
        let last = line.as_bytes().get(3) != Some(&b'-');
        reply.push_str(&line);
        if last {
            return Ok(reply);
        }
    }
}

/// Reads one reply and requires `code`.
async fn expect(c: &mut Client, code: &str) -> Result<String> {
    let reply = reply(c).await?;
    if !reply.starts_with(code) {
        bail!("expected {code}, server said {:?}", reply.trim_end());
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_about_the_asked_size_and_ends_with_the_dot() {
        let m = message("a@b", "list@b", 3, 7, 4096);
        assert!(m.len() <= 4096 + 3 && m.len() > 4096 - 80, "{}", m.len());
        assert!(m.ends_with(b"x\r\n.\r\n"));
        assert!(m.starts_with(b"From: <a@b>\r\nTo: <list@b>\r\nSubject: loadgen 3 7\r\n"));
    }
}
