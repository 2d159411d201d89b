//! `coursemail denis`: the grader alone, on an existing data root (what its container runs:
//! course/, journal/ and grading.git must be writable; mail/, logs/ and accounts/ are only
//! read). Two services: the intake (SPEC §8) and the deadline scheduler (SPEC §9).

use std::convert::Infallible;
use std::process::ExitCode;

use anyhow::Result;
use net::CancellationToken;

use super::serve::{run_until_signal, runtime, service};
use crate::context::Context;
use crate::services;

/// Runs the grader until SIGTERM.
pub fn run(ctx: Context) -> Result<ExitCode> {
    let runner = services::deadline_runner(&ctx)?;
    let outlook = services::describe_deadlines(&runner)?;
    runtime()?.block_on(async move {
        let intake = services::denis(&ctx).await?;
        let scheduler = services::scheduler(&ctx, runner, intake.clone());
        println!("{}", services::describe_grader(&ctx));
        println!("{outlook}");
        let shutdown = CancellationToken::new();
        let (intake_stop, deadlines_stop) = (shutdown.clone(), shutdown.clone());
        let services = vec![
            service("grader", async move { intake.run(intake_stop).await }),
            service("deadline scheduler", async move {
                scheduler.run(deadlines_stop).await;
                Ok::<(), Infallible>(())
            }),
        ];
        run_until_signal(services, shutdown).await
    })
}
