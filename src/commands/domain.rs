//! `coursemail domain show|set`: the course's mail domain recorded in the data root (SPEC §3).
//! Changing it is explicit, because every address students and instructors know changes.

use std::process::ExitCode;

use accounts::MailDomain;
use anyhow::{Context as _, Result};

use super::init::warn_about_domain;
use crate::cli::DomainCommand;
use crate::context::{Context, Record, public_host};

/// Runs one `domain` subcommand.
pub fn run(ctx: &mut Context, cmd: DomainCommand) -> Result<ExitCode> {
    match cmd {
        DomainCommand::Show => {
            ctx.settle_domain(Record::No)?;
            println!("mail domain  {}", ctx.config.hostname);
            println!("server name  {}", ctx.config.server.public_host);
        }
        DomainCommand::Set { name } => {
            let domain = MailDomain::parse(&name)?;
            let accounts = ctx.accounts()?;
            let old = accounts.mail_domain()?;
            accounts
                .set_mail_domain(&domain)
                .context("cannot record the mail domain")?;
            ctx.config.hostname = domain.to_string();
            ctx.config.server.public_host = public_host(&ctx.config.server.public_host, &domain);
            match old {
                Some(old) if old == domain => println!("the mail domain already is {domain}"),
                Some(old) => println!(
                    "mail domain changed from {old} to {domain}; restart the services, and tell \
                     students their address is now USER@{domain}"
                ),
                None => println!("mail domain recorded: {domain}"),
            }
            warn_about_domain(ctx);
        }
    }
    Ok(ExitCode::SUCCESS)
}
