//! `coursemail smtp`: the SMTP submission server alone, on an existing data root (what its
//! container runs: accounts may be mounted read-only; mail/ and logs/ must be writable).

use std::process::ExitCode;

use anyhow::Result;
use net::CancellationToken;

use super::serve::{run_until_signal, runtime, service};
use crate::context::Context;
use crate::services::{self, Shared};

/// Serves SMTP until SIGTERM.
pub fn run(ctx: Context) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let shared = Shared::load(&ctx, true)?;
        let server = services::smtp(&ctx, &shared)?;
        for (addr, security) in server.local_addrs() {
            println!("{}", services::describe(addr, security, "SMTP"));
        }
        let shutdown = CancellationToken::new();
        let services = vec![service("SMTP", server.run(shutdown.clone()))];
        run_until_signal(services, shutdown).await
    })
}
