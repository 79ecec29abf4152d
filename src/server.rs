//! Serving: open the store, load the keys, bind the S3 and admin listeners,
//! hand connections to hyper (through TLS on the S3 listener when configured),
//! reload the TLS certificate on SIGHUP, and shut down cleanly on SIGINT or
//! SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coffer_engine::Engine;
use coffer_s3::admin::ROOT_USER;
use coffer_s3::expiry;
use coffer_s3::metrics::Metrics;
use coffer_s3::monitor::Monitor;
use coffer_s3::{CofferService, KeyStore, User};
use coffer_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::config::Settings;
use crate::credentials::{self, Source};
use crate::tls;

/// In-flight requests get this long to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// A client must send a request's headers within this long, and an idle
/// connection is closed after it: a slow or silent client cannot pin a
/// connection forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections the admin listener serves at once; kept apart from the S3
/// listener's so that a saturated S3 endpoint can still be administered.
const ADMIN_CONNECTIONS_MAX: usize = 64;
/// After a failed accept (out of file descriptors, say), wait this long.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// A connection that has not finished its TLS handshake by then is closed,
/// so silent clients cannot pile up tasks and hold up a shutdown.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the kernel queues on a listener until the server accepts
/// them (capped by `net.core.somaxconn`). tokio's default, 128, let a burst
/// of new connections overflow the queue: the kernel drops the SYNs beyond
/// it and those clients try again only a second later. The queue also holds
/// the connections waiting for a slot beyond `--max-connections`.
const LISTEN_BACKLOG: u32 = 1024;
/// Where the admin API listens unless told otherwise.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9001";

pub async fn serve(args: Settings) -> anyhow::Result<()> {
    let certificate = args.tls.map(tls::Certificate::load).transpose()?;
    let tls = certificate.as_ref().map(tls::Certificate::acceptor).transpose()?;
    #[cfg(feature = "failpoints")]
    for failpoint in &args.failpoint {
        let (name, actions) = failpoint
            .split_once('=')
            .with_context(|| format!("--failpoint {failpoint}: expected NAME=ACTION"))?;
        fail::cfg(name, actions).map_err(|err| anyhow::anyhow!("--failpoint {failpoint}: {err}"))?;
    }
    let (root, source) = credentials::root_keys(&args.data_dir, args.access_key, args.secret_key)?;
    let store = Store::open(&args.data_dir)
        .with_context(|| format!("opening {}", args.data_dir.display()))?
        .with_inline_max_bytes(args.inline_max_bytes);
    let engine: Arc<dyn Engine> = Arc::new(store.clone());
    let users = engine.list_users().await?;
    let keys = KeyStore::from_records(&users, engine.list_keys().await?);
    keys.insert(&root.access_key, &root.secret_key, true, User::named(ROOT_USER, true));
    let master_key = credentials::master_key(&args.data_dir, args.master_key.as_deref())?;
    let metrics = Arc::new(Metrics::new());
    let s3 = coffer_s3::service(
        Arc::clone(&engine),
        keys.clone(),
        &args.region,
        args.domain.as_deref(),
        master_key.clone(),
    )
    .with_metrics(Arc::clone(&metrics));
    let (stop, stopping) = watch::channel(false);
    let settings = expiry::Settings {
        interval_seconds: args.lifecycle_interval,
        pass_entries: args.lifecycle_pass_entries,
    };
    let lifecycle = expiry::Worker::new(Arc::clone(&engine), settings, stopping.clone());
    let lifecycle_test = args.lifecycle_test_clock.then(|| Arc::clone(&lifecycle));
    let monitor = Monitor {
        engine: Arc::clone(&engine),
        metrics,
        lifecycle: Arc::clone(&lifecycle),
        metrics_token: args.metrics_token,
        stopping: stopping.clone(),
    };
    let data_dir = std::path::absolute(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone());
    let admin = coffer_s3::admin::service(
        Arc::clone(&engine),
        keys,
        &args.region,
        lifecycle_test,
        monitor,
        &data_dir.display().to_string(),
    );

    let listener = bind(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let admin_listener = bind_admin(args.admin_listen)?;

    // Before the server says it is ready: a signal sent once it has must find
    // its handler. SIGHUP is the reload signal (systemd's ExecReload sends
    // it); without a handler it would end the process.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
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
    let scheme = if tls.is_some() { "https" } else { "http" };
    writeln!(stdout, "coffer listening on {scheme}://{}", listener.local_addr()?)?;
    if let Some(admin_listener) = &admin_listener {
        writeln!(stdout, "coffer admin API on http://{}", admin_listener.local_addr()?)?;
    }
    stdout.flush()?;
    drop(stdout);

    let lifecycle = tokio::spawn(lifecycle.run());
    let scrubbing = tokio::spawn(crate::scrub::background(
        Arc::clone(&engine),
        master_key,
        Duration::from_secs(args.scrub_interval),
        args.scrub_rate,
        stopping.clone(),
    ));
    let connections = Arc::new(GracefulShutdown::new());
    let s3 = if tls.is_some() { s3.over_tls() } else { s3 };
    let accepting = tokio::spawn(accept(
        listener,
        s3,
        tls,
        Arc::new(Semaphore::new(args.max_connections.get())),
        Arc::clone(&connections),
        stopping,
    ));
    // The admin listener outlives the S3 one until in-flight S3 requests are
    // done, so that readiness probes read 503 then, not a refused connection.
    let (stop_admin, admin_stopping) = watch::channel(false);
    let admin_connections = Arc::new(GracefulShutdown::new());
    let admin_accepting = admin_listener.map(|admin_listener| {
        tokio::spawn(accept(
            admin_listener,
            admin,
            None,
            Arc::new(Semaphore::new(ADMIN_CONNECTIONS_MAX)),
            Arc::clone(&admin_connections),
            admin_stopping,
        ))
    });

    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => match &certificate {
                Some(certificate) => certificate.reload(),
                None => tracing::info!("SIGHUP: nothing to reload without TLS"),
            },
        }
    }
    tracing::info!("shutting down");
    stop.send_replace(true);
    accepting.await?;
    drain(connections).await;
    stop_admin.send_replace(true);
    if let Some(task) = admin_accepting {
        task.await?;
    }
    drain(admin_connections).await;
    // The worker stops after its current step; its changes are then all
    // committed before the store records a clean shutdown.
    lifecycle.await?;
    scrubbing.await?;
    store.close()?;
    Ok(())
}

/// Waits for the connections of an accept loop that has ended to finish
/// their requests, for up to [`SHUTDOWN_GRACE`].
async fn drain(connections: Arc<GracefulShutdown>) {
    let connections = Arc::into_inner(connections).expect("the accept loop has ended");
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
}

/// Listens on `address` as `TcpListener::bind` does (SO_REUSEADDR, so a
/// restart can bind at once), with a backlog of [`LISTEN_BACKLOG`].
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Binds the admin listener. An address the operator chose must be usable; the
/// default one may be taken (by a second server on the same machine, say), and
/// then the server runs without an admin API and says so.
fn bind_admin(chosen: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    match chosen {
        Some(address) => Ok(Some(
            bind(address).with_context(|| format!("binding the admin API to {address}"))?,
        )),
        None => match bind(DEFAULT_ADMIN_LISTEN.parse().expect("a socket address")) {
            Ok(listener) => Ok(Some(listener)),
            Err(err) => {
                tracing::warn!(%err, "no admin API: {DEFAULT_ADMIN_LISTEN} is not available; pass --admin-listen");
                Ok(None)
            }
        },
    }
}

/// Accepts connections on `listener` for `service`, through `tls` when given,
/// at most as many at once as `slots` has permits (the others wait in the
/// kernel's backlog), until `stopping` turns true.
async fn accept(
    listener: TcpListener,
    service: CofferService,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    connections: Arc<GracefulShutdown>,
    mut stopping: watch::Receiver<bool>,
) {
    // HTTP/1.1 only: S3 clients speak it, and detecting HTTP/2 would wait
    // for a silent client's first bytes with no timeout at all.
    let mut http = auto::Builder::new(TokioExecutor::new()).http1_only();
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = stopping.changed() => return,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                        continue;
                    }
                };
                // Small responses must leave at once: Nagle's algorithm with
                // delayed ACKs would add tens of milliseconds to each.
                let _ = stream.set_nodelay(true);
                let service = service.for_peer(peer);
                let watcher = connections.watcher();
                let http = http.clone();
                let tls = tls.clone();
                // The handshake runs in the connection's task: a slow client
                // must not hold up the accept loop.
                tokio::spawn(async move {
                    // The slot is the connection's for as long as it lives.
                    let _slot = slot;
                    let Some(tls) = tls else {
                        return serve_connection(&http, stream, service, watcher).await;
                    };
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(&http, stream, service, watcher).await,
                        Ok(Err(err)) => tracing::debug!(%err, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
            _ = stopping.changed() => return,
        }
    }
}

/// Serves HTTP on one connection, plain or TLS, until it closes or a graceful
/// shutdown has it finish its requests.
async fn serve_connection(
    http: &auto::Builder<TokioExecutor>,
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    service: CofferService,
    watcher: Watcher,
) {
    if let Err(err) = watcher.watch(http.serve_connection(TokioIo::new(io), service)).await {
        tracing::debug!(%err, "connection ended with an error");
    }
}
