//! `coursemail web`: the dashboard alone, on an existing data root (what its container runs:
//! accounts/ and course/ writable, mail/ read-only, the journal not mounted at all), with the
//! chat's credentials check on a listener of its own when `[web] internal_listen` is set.

use std::process::ExitCode;

use anyhow::{Result, bail};
use net::CancellationToken;

use super::serve::{run_until_signal, runtime, service};
use crate::context::Context;
use crate::services::{self, Shared};

/// Serves the dashboard until SIGTERM.
pub fn run(ctx: Context) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        // Read-write: the web creates sessions and registers students.
        let shared = Shared::load(&ctx, false)?;
        let Some(server) = services::web(&ctx, &shared).await? else {
            bail!("[web] listen is empty, so there is nothing to serve; set it, e.g. 0.0.0.0:8080");
        };
        for line in services::describe_web(&server) {
            println!("{line}");
        }
        let shutdown = CancellationToken::new();
        let services = vec![service("web", server.run(shutdown.clone()))];
        run_until_signal(services, shutdown).await
    })
}
