//! `coursemail denis`: the grader alone, on an existing data root (what its container runs:
//! course/, journal/ and grading.git must be writable; mail/, logs/ and accounts/ are only
//! read).

use std::process::ExitCode;

use anyhow::Result;
use net::CancellationToken;

use super::serve::{run_until_signal, runtime, service};
use crate::context::Context;
use crate::services;

/// Runs the grader until SIGTERM.
pub fn run(ctx: Context) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let intake = services::denis(&ctx).await?;
        println!("{}", services::describe_grader(&ctx));
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let services = vec![service("grader", async move { intake.run(token).await })];
        run_until_signal(services, shutdown).await
    })
}
