//! Running network services until the process is asked to stop: shared by `up` (everything) and
//! the single-service commands (`coursemail pop`, ...), which is what containers run.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use net::CancellationToken;

/// A started service: its name and the future that serves until shutdown.
pub type Service = (
    &'static str,
    Pin<Box<dyn Future<Output = Result<()>> + Send>>,
);

/// Wraps a service's future, whatever its error type, as a [`Service`].
pub fn service<E>(
    name: &'static str,
    serve: impl Future<Output = Result<(), E>> + Send + 'static,
) -> Service
where
    E: std::error::Error + Send + Sync + 'static,
{
    (name, Box::pin(async move { Ok(serve.await?) }))
}

/// Runs `services` until Ctrl-C or SIGTERM; a service that stops on its own is an error.
pub async fn run_until_signal(
    services: Vec<Service>,
    shutdown: CancellationToken,
) -> Result<ExitCode> {
    let mut tasks = tokio::task::JoinSet::new();
    for (name, service) in services {
        tasks.spawn(async move { (name, service.await) });
    }
    let outcome = tokio::select! {
        signal = shutdown_signal() => signal.map(|()| None),
        Some(done) = tasks.join_next() => Ok(Some(done)),
    };
    shutdown.cancel();
    eprintln!("coursemail: stopping");
    match outcome? {
        None => Ok(ExitCode::SUCCESS),
        Some(Ok((name, Ok(())))) => bail!("the {name} service stopped unexpectedly"),
        Some(Ok((name, Err(e)))) => Err(e).with_context(|| format!("the {name} service failed")),
        Some(Err(e)) => Err(e).context("a service crashed"),
    }
}

/// Resolves on Ctrl-C or SIGTERM (what container runtimes send).
async fn shutdown_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// A multi-threaded runtime for the services.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}
