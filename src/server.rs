//! Serving: bind, accept, hand connections to hyper, and shut down cleanly on
//! SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coffer_s3::{KeyStore, User};
use coffer_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::ServeArgs;
use crate::credentials::{self, Source};

/// In-flight requests get this long to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// After a failed accept (out of file descriptors, say), wait this long.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// The name of the user the root keys belong to.
const ROOT_USER: &str = "root";

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (root, source) = credentials::root_keys(&args.data_dir, args.access_key, args.secret_key)?;
    let store = Store::open(&args.data_dir).with_context(|| format!("opening {}", args.data_dir.display()))?;
    let keys = KeyStore::default();
    keys.add(&root.access_key, &root.secret_key, User::named(ROOT_USER));
    let service = coffer_s3::service(Arc::new(store.clone()), keys, &args.region);

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    match source {
        Source::Given => {}
        Source::Stored | Source::Generated => writeln!(
            stdout,
            "coffer root credentials (kept in {}): access key {} secret key {}",
            args.data_dir.join("credentials").display(),
            root.access_key,
            root.secret_key
        )?,
    }
    writeln!(stdout, "coffer listening on http://{address}")?;
    stdout.flush()?;
    drop(stdout);

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let connections = GracefulShutdown::new();
    let http = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                        continue;
                    }
                };
                // Small responses must leave at once: Nagle's algorithm with
                // delayed ACKs would add tens of milliseconds to each.
                let _ = stream.set_nodelay(true);
                let connection = http.serve_connection(TokioIo::new(stream), service.clone()).into_owned();
                let connection = connections.watch(connection);
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(%err, "connection ended with an error");
                    }
                });
            }
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down");
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
    store.close()?;
    Ok(())
}
