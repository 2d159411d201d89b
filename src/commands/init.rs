//! `coursemail init`: prepares a data root and exits, so services that mount parts of it
//! read-only (the containers of SPEC §13) find everything they read already there.

use std::process::ExitCode;

use accounts::Accounts;
use anyhow::{Context as _, Result};
use journal::writer::JournalWriter;

use crate::context::Context;

/// Prepares the data root and says where it is.
pub fn run(ctx: &Context) -> Result<ExitCode> {
    prepare(ctx)?;
    ctx.course_db()?;
    println!(
        "coursemail: data root {} is ready (certificate, accounts, course database, journal)",
        ctx.root.root().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Everything the services need on disk before they start (directories, certificate, accounts
/// database, journal); idempotent, so every start may run it.
pub fn prepare(ctx: &Context) -> Result<()> {
    ctx.prepare_data_root()?;
    let tls = ctx.root.tls_dir();
    net::ensure_certificate(&tls, &ctx.config.hostname)
        .with_context(|| format!("cannot prepare the TLS certificate in {}", tls.display()))?;
    let db = ctx.root.accounts_db();
    Accounts::open(&db)
        .with_context(|| format!("cannot open the accounts database {}", db.display()))?;
    JournalWriter::init(&ctx.root.journal_file())?;
    Ok(())
}
