//! `coursemail init`: prepares a data root and exits, so services that mount parts of it
//! read-only (the containers of SPEC §13) find everything they read already there.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use journal::writer::JournalWriter;

use crate::context::{Context, Record};

/// Prepares the data root and says where it is.
pub fn run(ctx: &mut Context) -> Result<ExitCode> {
    prepare(ctx)?;
    ctx.course_db()?;
    println!(
        "coursemail: data root {} is ready (mail domain {}, certificate, accounts, course \
         database, journal)",
        ctx.root.root().display(),
        ctx.config.hostname
    );
    warn_about_domain(ctx);
    Ok(ExitCode::SUCCESS)
}

/// Everything the services need on disk before they start (directories, the recorded mail
/// domain, certificate, accounts database, journal); idempotent, so every start may run it.
pub fn prepare(ctx: &mut Context) -> Result<()> {
    ctx.prepare_data_root()?;
    ctx.settle_domain(Record::Yes)?;
    let tls = ctx.root.tls_dir();
    let names = [
        ctx.config.server.public_host.as_str(),
        ctx.config.hostname.as_str(),
    ];
    net::ensure_certificate_for(&tls, &names)
        .with_context(|| format!("cannot prepare the TLS certificate in {}", tls.display()))?;
    JournalWriter::init(&ctx.root.journal_file())?;
    create_base_repository(ctx)?;
    create_check_secret(ctx)?;
    Ok(())
}

/// The secret the chat server shares with the web's credentials check (`tls/check.secret`,
/// beside the certificate the chat is also given): the check answers only requests that carry
/// it, so no other process, on the machine or the network, can use it as a password oracle.
fn create_check_secret(ctx: &Context) -> Result<()> {
    use std::io::Read as _;
    let path = ctx.root.tls_dir().join(web::CHECK_SECRET_FILE);
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read random bytes for the check's secret")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    journal::write_file_atomic(&path, format!("{hex}\n").as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// An empty `course/base.git`, so an instructor's first push over `/git/base.git` creates its
/// history (SPEC §18); series apply on an empty base as on none. An existing one is left alone.
fn create_base_repository(ctx: &Context) -> Result<()> {
    let base = ctx.root.course_dir().join("base.git");
    if base.exists() {
        return Ok(());
    }
    journal::create_private_dir(&ctx.root.course_dir())?;
    let output = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "--initial-branch=main", "--"])
        .arg(&base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .context("cannot run git to create the course's base repository; install git")?;
    anyhow::ensure!(
        output.status.success(),
        "git init {} failed: {}",
        base.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// Says what would stop students, on stderr: a domain without a dot, which git send-email
/// refuses in addresses, and a certificate that does not name the server name clients use.
pub fn warn_about_domain(ctx: &Context) {
    let domain = &ctx.config.hostname;
    if !domain.contains('.') {
        eprintln!(
            "warning: the mail domain {domain:?} has no dot: git send-email refuses addresses \
             such as hw1@{domain} (\"unable to extract a valid address\"), so students cannot \
             send series. Choose a domain with a dot: `coursemail domain set course.localhost` \
             on one machine, or the course's real domain."
        );
    }
    let host = &ctx.config.server.public_host;
    match net::certificate_names(&ctx.root.tls_dir()) {
        Ok(names) if !names.iter().any(|n| n.eq_ignore_ascii_case(host)) => eprintln!(
            "warning: the certificate in {} names {} but clients connect to {host}: they will \
             refuse it. Install a certificate for {host}, or move cert.pem and key.pem away and \
             start again to get a new self-signed one.",
            ctx.root.tls_dir().display(),
            names.join(", ")
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot read the certificate's names: {e}"),
    }
}
