//! `coursemail pop`: the POP3 server alone, on an existing data root (what its container runs:
//! journal, mail and accounts may be mounted read-only; only pop/ must be writable).

use std::process::ExitCode;

use anyhow::Result;
use net::CancellationToken;

use super::serve::{run_until_signal, runtime, service};
use crate::context::Context;
use crate::services::{self, Shared};

/// Serves POP3 until SIGTERM.
pub fn run(ctx: Context) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let shared = Shared::load(&ctx, true)?;
        let server = services::pop(&ctx, &shared)?;
        for (addr, security) in server.local_addrs() {
            println!("{}", services::describe(addr, security, "POP3"));
        }
        let shutdown = CancellationToken::new();
        let services = vec![service("POP3", server.run(shutdown.clone()))];
        run_until_signal(services, shutdown).await
    })
}
