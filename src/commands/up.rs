//! `coursemail up`: every service in one process on the embedded default (SPEC §12).
//!
//! It prepares the data root, the self-signed certificate, the accounts database and the journal,
//! starts the services (smtp, pop, the web dashboard, the grader's intake and deadline scheduler), prints where
//! everything is and what deadline comes next, and runs until Ctrl-C or SIGTERM.

use std::convert::Infallible;
use std::process::ExitCode;

use anyhow::Result;
use net::CancellationToken;

use super::init;
use super::serve::{run_until_signal, runtime, service};
use crate::cli::UpArgs;
use crate::context::Context;
use crate::services::{self, Shared};

/// Runs every service until the process is asked to stop.
pub fn run(mut ctx: Context, args: UpArgs) -> Result<ExitCode> {
    if let Some(hostname) = args.hostname {
        ctx.config.hostname = hostname;
    }
    if let Some(host) = args.public_host {
        ctx.config.server.public_host = host;
    }
    let smtp = &mut ctx.config.smtp;
    with_port(&mut smtp.tls_listen, args.smtps_port);
    with_port(&mut smtp.starttls_listen, args.submission_port);
    let pop = &mut ctx.config.pop;
    with_port(&mut pop.tls_listen, args.pop3s_port);
    with_port(&mut pop.stls_listen, args.pop3_port);
    with_port(&mut ctx.config.web.listen, args.web_port);
    init::prepare(&mut ctx)?;
    init::warn_about_domain(&ctx);
    let runner = services::deadline_runner(&ctx)?;
    let outlook = services::describe_deadlines(&runner)?;
    runtime()?.block_on(async move {
        let mut ctx = ctx;
        let shared = Shared::load(&ctx, false)?;
        let intake = services::denis(&ctx).await?;
        let scheduler = services::scheduler(&ctx, runner, intake.clone());
        let smtp = services::smtp(&ctx, &shared)?;
        let pop = services::pop(&ctx, &shared)?;
        // The ports the system chose for port 0 are the ones /setup must tell students.
        for (addr, security) in smtp.local_addrs() {
            let smtp = &mut ctx.config.smtp;
            match security {
                net::Security::ImplicitTls => smtp.tls_listen = addr.to_string(),
                net::Security::Plain => smtp.starttls_listen = addr.to_string(),
            }
        }
        for (addr, security) in pop.local_addrs() {
            let pop = &mut ctx.config.pop;
            match security {
                net::Security::ImplicitTls => pop.tls_listen = addr.to_string(),
                net::Security::Plain => pop.stls_listen = addr.to_string(),
            }
        }
        let web = services::web(&ctx, &shared).await?;
        let mut listening: Vec<String> = Vec::new();
        listening.extend(
            smtp.local_addrs()
                .into_iter()
                .map(|(a, s)| services::describe(a, s, "SMTP")),
        );
        listening.extend(
            pop.local_addrs()
                .into_iter()
                .map(|(a, s)| services::describe(a, s, "POP3")),
        );
        listening.extend(web.iter().flat_map(services::describe_web));
        listening.push(services::describe_grader(&ctx));
        listening.push(outlook);
        print_summary(&ctx, &listening);
        let shutdown = CancellationToken::new();
        let (intake_stop, deadlines_stop) = (shutdown.clone(), shutdown.clone());
        let mut services = vec![
            service("SMTP", smtp.run(shutdown.clone())),
            service("POP3", pop.run(shutdown.clone())),
            service("grader", async move { intake.run(intake_stop).await }),
            service("deadline scheduler", async move {
                scheduler.run(deadlines_stop).await;
                Ok::<(), Infallible>(())
            }),
        ];
        if let Some(web) = web {
            services.push(service("web", web.run(shutdown.clone())));
        }
        run_until_signal(services, shutdown).await
    })
}

/// Replaces the port of a configured `address:port` (keeps a disabled listener disabled).
fn with_port(addr: &mut String, port: Option<u16>) {
    if let (Some(port), Some((host, _))) = (port, addr.rsplit_once(':')) {
        *addr = format!("{host}:{port}");
    }
}

fn print_summary(ctx: &Context, listening: &[String]) {
    let root = &ctx.root;
    let domain = &ctx.config.hostname;
    println!("coursemail is up");
    println!("  mail domain  {domain}   (addresses: USER@{domain}, ASSIGNMENT@{domain})");
    println!("  server name  {}", ctx.config.server.public_host);
    println!("  data root    {}", root.root().display());
    println!(
        "  certificate  {}",
        root.tls_dir().join("cert.pem").display()
    );
    for line in listening {
        println!("  {line}");
    }
    if let Some(url) = listening
        .iter()
        .find_map(|l| l.strip_prefix("web          "))
    {
        println!("  mail setup   {url}setup (for students, once logged in)");
    }
    println!();
    println!("Create the first instructor with:");
    println!(
        "  echo 'a-long-password' | coursemail --data {} user add NAME --full-name 'Full Name' --instructor --password-stdin",
        root.root().display()
    );
    println!("Stop with Ctrl-C.");
}
