//! loadgen: drives an SMTP or POP3 server with many concurrent clients and reports throughput,
//! latency percentiles, errors and (given the server's pid) its memory per connection.
//!
//! It speaks the protocols itself and assumes nothing about the server, so the same run can be
//! pointed at coursemail or at another server for comparison.
//!
//! # Layout
//! - [`cli`]: command-line options.
//! - [`conn`]: connecting plain, implicit TLS or STARTTLS/STLS; a line-oriented client stream.
//! - [`pop`]: POP3 sessions (the busy loop and the idle login).
//! - [`smtp`]: SMTP submissions (the busy loop and the idle login).
//! - [`idle`]: holding many logged-in connections and measuring the server's memory.
//! - [`stats`]: latency samples, percentiles and the report.
//! - [`rss`]: the server's resident memory from /proc.

mod cli;
mod conn;
mod idle;
mod pop;
mod rss;
mod smtp;
mod stats;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    net::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            cli::Command::Pop(args) => pop::run_busy(args).await,
            cli::Command::PopIdle(args) => {
                idle::run("POP3", args, |t, i| async move { pop::login(&t, i).await }).await
            }
            cli::Command::Smtp(args) => smtp::run_busy(args).await,
            cli::Command::SmtpIdle(args) => {
                idle::run("SMTP", args, |t, i| async move { smtp::login(&t, i).await }).await
            }
        }
    })
}
