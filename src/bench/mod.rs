//! `coffer bench`: a load generator for S3 endpoints, in the spirit of
//! MinIO's warp. It owns a run from end to end: the optional embedded server
//! (`--self`), the bucket and the objects a workload needs, the workers that
//! load the server for `--duration`, the figures they measure, and the
//! clean-up of what the run wrote.
//!
//! The generator must not be what limits a run: connections are pooled and
//! kept, the payload is made and hashed once and shared by every request,
//! each worker measures into its own histograms, and response bodies are
//! counted and dropped as they arrive.

mod embedded;
mod process;
mod stats;
mod target;
mod units;
mod workload;

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rand::distr::Alphanumeric;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::client::SigningClient;
use embedded::EmbeddedServer;
use process::Sampler;
use stats::{Live, Report, Stats};
use target::{Options, Target};
use workload::{Op, Workload, mixed_op};

/// The AWS CLI's part size: common, and well above S3's 5 MiB minimum.
const DEFAULT_PART_SIZE: u64 = 8 << 20;

#[derive(Args)]
pub struct BenchArgs {
    /// The endpoint to measure, `http://host:port`.
    #[arg(long, required_unless_present = "self_server")]
    endpoint: Option<String>,
    /// Access key to sign requests with.
    #[arg(long, env = "COFFER_ACCESS_KEY", required_unless_present_any = ["self_server", "plain"])]
    access_key: Option<String>,
    /// Secret key to sign requests with.
    #[arg(
        long,
        env = "COFFER_SECRET_KEY",
        hide_env_values = true,
        required_unless_present_any = ["self_server", "plain"]
    )]
    secret_key: Option<String>,
    /// The region signatures name.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The bucket to work in; created if missing, and left in place.
    #[arg(long, default_value = "coffer-bench")]
    bucket: String,
    /// What to measure.
    #[arg(long, value_enum, default_value = "put")]
    op: Workload,
    /// Object size: 4KiB, 64MiB, 1GiB...
    #[arg(long, default_value = "4KiB", value_parser = units::parse_size)]
    size: u64,
    /// Part size of multipart uploads [default: 8MiB].
    #[arg(long, value_parser = units::parse_size)]
    part_size: Option<u64>,
    /// Requests in flight at once, one per worker.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// How long to load the server: 15s, 2m, 1m30s...
    #[arg(long, default_value = "15s", value_parser = units::parse_duration)]
    duration: Duration,
    /// Objects to prepare for get, head, list, delete and mixed
    /// [default: 1000; 10000 for list and delete].
    #[arg(long)]
    objects: Option<u64>,
    /// Print one JSON object with every figure, rather than a table.
    #[arg(long)]
    json: bool,
    /// Measure a `coffer serve` started for the run, on a free port over a
    /// temporary directory.
    #[arg(long = "self", conflicts_with_all = ["endpoint", "plain", "server_pid"])]
    self_server: bool,
    /// A plain HTTP server (nginx with WebDAV PUT, say): unsigned PUT, GET,
    /// HEAD and DELETE of `/bucket/key`, for comparison.
    #[arg(long)]
    plain: bool,
    /// Send `UNSIGNED-PAYLOAD` rather than each body's SHA-256.
    #[arg(long)]
    unsigned_payload: bool,
    /// Leave the run's objects in place.
    #[arg(long)]
    keep: bool,
    /// Report the CPU time and memory of these server processes too
    /// (repeatable: nginx's workers, say).
    #[arg(long)]
    server_pid: Vec<u32>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let server = if args.self_server {
        Some(EmbeddedServer::start().await?)
    } else {
        None
    };
    let result = bench(&args, server.as_ref()).await;
    let stopped = match server {
        Some(server) => server.stop().await,
        None => Ok(()),
    };
    let report = result?;
    stopped?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(())
}

/// The shared state of a run's workers.
struct Run {
    target: Arc<Target>,
    workload: Workload,
    concurrency: u64,
    deadline: Instant,
    /// Objects 0..prepared exist before the run.
    prepared: u64,
    /// The next id for an object a put creates.
    next_id: AtomicU64,
    /// The next prepared object a delete run removes.
    next_delete: AtomicU64,
    live: Live,
}

impl Run {
    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

async fn bench(args: &BenchArgs, server: Option<&EmbeddedServer>) -> anyhow::Result<Report> {
    if args.plain && matches!(args.op, Workload::List | Workload::Multipart) {
        bail!(
            "--plain servers have no {:?}: use put, get, head, delete or mixed",
            args.op
        );
    }
    let (endpoint, client) = match server {
        Some(server) => (
            server.endpoint.clone(),
            SigningClient::new(&server.endpoint, &server.access_key, &server.secret_key, &args.region),
        ),
        None => {
            let endpoint = args.endpoint.clone().context("--endpoint is required")?;
            let client = match (&args.access_key, &args.secret_key) {
                _ if args.plain => SigningClient::anonymous(&endpoint),
                (Some(access_key), Some(secret_key)) => {
                    SigningClient::new(&endpoint, access_key, secret_key, &args.region)
                }
                _ => bail!("--access-key and --secret-key are required"),
            };
            (endpoint, client)
        }
    };
    let prepared = match args.op.default_objects() {
        0 => 0,
        default => args.objects.unwrap_or(default),
    };
    if prepared == 0 && matches!(args.op, Workload::Get | Workload::Head | Workload::Delete) {
        bail!("{:?} needs objects: --objects must be at least 1", args.op);
    }
    let part_size = (args.op == Workload::Multipart).then(|| args.part_size.unwrap_or(DEFAULT_PART_SIZE));
    if part_size == Some(0) {
        bail!("--part-size must be at least 1 byte");
    }
    let run_id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(8)
        .map(|byte| char::from(byte).to_ascii_lowercase())
        .collect();
    let target = Arc::new(Target::new(
        client,
        Options {
            bucket: args.bucket.clone(),
            prefix: format!("bench-{run_id}/"),
            object_size: args.size,
            part_size,
            plain: args.plain,
            unsigned_payload: args.unsigned_payload,
        },
    )?);
    target.create_bucket().await?;
    if prepared > 0 {
        eprintln!("preparing {prepared} objects of {}", units::format_size(args.size));
        let (failed, first) = each_object(&target, 0..prepared, args.concurrency, Chore::Put).await;
        if let Some(error) = first {
            return Err(error.context(format!("{failed} of {prepared} objects could not be prepared")));
        }
    }

    let server_pids: Vec<String> = match server {
        Some(server) => server.pid().into_iter().map(|pid| pid.to_string()).collect(),
        None => args.server_pid.iter().map(u32::to_string).collect(),
    };
    let server_usage = match server_pids.is_empty() {
        true => None,
        false => Some(Sampler::start(server_pids)?),
    };
    let client_usage = Sampler::start(vec!["self".to_owned()])?;
    let started = Instant::now();
    let run = Arc::new(Run {
        target: target.clone(),
        workload: args.op,
        concurrency: args.concurrency,
        deadline: started + args.duration,
        prepared,
        next_id: AtomicU64::new(prepared),
        next_delete: AtomicU64::new(0),
        live: Live::default(),
    });
    let progress = tokio::spawn({
        let run = run.clone();
        async move {
            run.live
                .show_progress(&format!("{:?}", run.workload).to_lowercase())
                .await
        }
    });
    let mut workers = JoinSet::new();
    for index in 0..args.concurrency {
        workers.spawn(worker(run.clone(), index));
    }
    let mut stats = Stats::default();
    while let Some(worker_stats) = workers.join_next().await {
        stats.merge(worker_stats.context("a worker failed")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.abort();
    stats::clear_progress();
    let client = client_usage.finish()?;
    let server_usage = server_usage.map(|sampler| sampler.finish()).transpose()?;

    let ran_out_of_objects = run.workload == Workload::Delete && run.next_delete.load(Ordering::Relaxed) >= prepared;
    if !args.keep && server.is_none() {
        let written = match args.op {
            Workload::Delete => run.next_delete.load(Ordering::Relaxed).min(prepared)..prepared,
            _ => 0..run.next_id.load(Ordering::Relaxed),
        };
        if !written.is_empty() {
            eprintln!("removing the run's {} objects", written.end - written.start);
            let (failed, first) = each_object(&target, written, args.concurrency, Chore::Remove).await;
            if let Some(error) = first {
                eprintln!("warning: {failed} objects could not be removed, the first: {error:#}");
            }
        }
    }

    let (ops, total) = Report::figures(&stats, seconds);
    let errors = ops.iter().map(|op| op.errors).sum();
    Ok(Report {
        endpoint,
        bucket: args.bucket.clone(),
        workload: args.op,
        object_size: args.size,
        part_size,
        concurrency: args.concurrency,
        objects_prepared: prepared,
        signed_payload: !(args.plain || args.unsigned_payload),
        plain: args.plain,
        seconds,
        ran_out_of_objects,
        ops,
        total,
        errors,
        first_errors: run.live.first_errors(),
        client,
        server: server_usage,
    })
}

/// One worker: operations back to back until the deadline.
async fn worker(run: Arc<Run>, index: u64) -> Stats {
    let mut stats = Stats::default();
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    // Mixed runs give each worker its own objects, so a delete never races
    // another worker's get of the same key.
    let mut owned: Vec<u64> = match run.workload {
        Workload::Mixed => (index..run.prepared).step_by(run.concurrency as usize).collect(),
        _ => Vec::new(),
    };
    let mut list_from: Option<String> = None;
    while Instant::now() < run.deadline {
        let (op, id) = match run.workload {
            Workload::Put => (Op::Put, run.new_id()),
            Workload::Multipart => (Op::Multipart, run.new_id()),
            Workload::Get => (Op::Get, rng.random_range(0..run.prepared)),
            Workload::Head => (Op::Head, rng.random_range(0..run.prepared)),
            Workload::List => (Op::List, 0),
            Workload::Delete => match run.next_delete.fetch_add(1, Ordering::Relaxed) {
                id if id < run.prepared => (Op::Delete, id),
                _ => break,
            },
            Workload::Mixed => match (mixed_op(rng.random_range(0..100)), owned.len()) {
                (Op::Put, _) | (_, 0) => (Op::Put, run.new_id()),
                (Op::Delete, count) => (Op::Delete, owned.swap_remove(rng.random_range(0..count))),
                (op, count) => (op, owned[rng.random_range(0..count)]),
            },
        };
        let target = &run.target;
        let started = Instant::now();
        let result = match op {
            Op::Put => target.put(id).await.map(|bytes| (bytes, 0)),
            Op::Get => target.get(id).await.map(|bytes| (bytes, 0)),
            Op::Head => target.head(id).await.map(|bytes| (bytes, 0)),
            Op::Delete => target.delete(id).await.map(|bytes| (bytes, 0)),
            Op::Multipart => target.multipart(id).await.map(|bytes| (bytes, 0)),
            Op::List => target.list_page(list_from.as_deref()).await.map(|page| {
                list_from = page.next;
                (0, page.keys)
            }),
        };
        let latency = started.elapsed();
        match result {
            Ok((bytes, keys)) => {
                stats.success(op, latency, bytes, keys);
                run.live.success(bytes);
                if op == Op::Put && run.workload == Workload::Mixed {
                    owned.push(id);
                }
            }
            Err(error) => {
                stats.failure(op);
                run.live.failure(op, &error);
                list_from = None;
            }
        }
    }
    stats
}

#[derive(Clone, Copy)]
enum Chore {
    Put,
    Remove,
}

/// Puts or deletes the objects `ids`, `concurrency` at a time, outside the
/// measured run; returns how many failed and the first failure.
async fn each_object(
    target: &Arc<Target>,
    ids: Range<u64>,
    concurrency: u64,
    chore: Chore,
) -> (u64, Option<anyhow::Error>) {
    let next = Arc::new(AtomicU64::new(ids.start));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (target, next, end) = (target.clone(), next.clone(), ids.end);
        tasks.spawn(async move {
            let mut failed: (u64, Option<anyhow::Error>) = (0, None);
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= end {
                    return failed;
                }
                let result = match chore {
                    Chore::Put => target.put(id).await,
                    Chore::Remove => target.remove(id).await,
                };
                if let Err(error) = result {
                    failed.0 += 1;
                    failed.1.get_or_insert(error);
                }
            }
        });
    }
    let mut failed = (0, None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((count, first)) => {
                failed.0 += count;
                if failed.1.is_none() {
                    failed.1 = first;
                }
            }
            Err(error) => {
                failed.0 += 1;
                failed.1.get_or_insert(anyhow::Error::from(error));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use bytes::Bytes;
    use clap::Parser;
    use http::{Method, Request, Response, StatusCode};
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    type Objects = Arc<Mutex<HashMap<String, Bytes>>>;

    /// A plain HTTP object store in memory: PUT, GET, HEAD and DELETE by
    /// path, as nginx with WebDAV answers them.
    async fn plain_server() -> (SocketAddr, Objects) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let objects = Objects::default();
        let store = objects.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let objects = store.clone();
                let service = service_fn(move |request| answer(objects.clone(), request));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (address, objects)
    }

    async fn answer(objects: Objects, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut objects = objects.lock().unwrap();
        let (status, body) = match method {
            Method::PUT => {
                objects.insert(path, body);
                (StatusCode::CREATED, Bytes::new())
            }
            Method::GET | Method::HEAD => match objects.get(&path) {
                Some(object) => (StatusCode::OK, object.clone()),
                None => (StatusCode::NOT_FOUND, Bytes::new()),
            },
            Method::DELETE => match objects.remove(&path) {
                Some(_) => (StatusCode::NO_CONTENT, Bytes::new()),
                None => (StatusCode::NOT_FOUND, Bytes::new()),
            },
            _ => (StatusCode::METHOD_NOT_ALLOWED, Bytes::new()),
        };
        let mut response = Response::new(Full::new(if method == Method::HEAD { Bytes::new() } else { body }));
        *response.status_mut() = status;
        Ok(response)
    }

    #[tokio::test]
    async fn a_mixed_run_measures_every_op_and_cleans_up() {
        let (address, objects) = plain_server().await;
        let endpoint = format!("http://{address}");
        let cli = Cli::parse_from([
            "bench",
            "--plain",
            "--endpoint",
            &endpoint,
            "--op",
            "mixed",
            "--size",
            "1KiB",
            "--objects",
            "200",
            "--concurrency",
            "4",
            "--duration",
            "300ms",
        ]);
        let report = bench(&cli.args, None).await.unwrap();
        assert_eq!(report.errors, 0, "{:?}", report.first_errors);
        let names: Vec<&str> = report.ops.iter().map(|op| op.op).collect();
        assert_eq!(names, ["put", "get", "head", "delete"]);
        let total = report.total.as_ref().unwrap();
        assert_eq!(total.ops, report.ops.iter().map(|op| op.ops).sum::<u64>());
        assert!(total.ops > 100, "only {} operations", total.ops);
        let gets = &report.ops[1];
        assert_eq!(gets.bytes, gets.ops * 1024);
        assert!(objects.lock().unwrap().is_empty(), "the run left objects behind");
    }

    #[tokio::test]
    async fn a_delete_run_ends_when_the_objects_do() {
        let (address, objects) = plain_server().await;
        let endpoint = format!("http://{address}");
        let cli = Cli::parse_from([
            "bench",
            "--plain",
            "--endpoint",
            &endpoint,
            "--op",
            "delete",
            "--objects",
            "50",
            "--duration",
            "1m",
        ]);
        let report = bench(&cli.args, None).await.unwrap();
        assert!(report.ran_out_of_objects);
        assert_eq!(report.ops[0].ops, 50);
        assert!(objects.lock().unwrap().is_empty());
    }
}
