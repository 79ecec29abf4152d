//! Measurements: each worker's own latency histograms and counters (no
//! sharing on the hot path but a few relaxed atomics for the progress line),
//! merged at the end into the report printed as a table or as JSON.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::units::{format_micros, format_size};
use super::workload::{Op, Workload};

/// Latencies are kept in microseconds, from 1µs to an hour, to three
/// significant figures.
const LATENCY_MAX_MICROS: u64 = 3_600_000_000;
const LATENCY_SIGFIGS: u8 = 3;
/// Enough error messages to show what went wrong without flooding.
const ERRORS_KEPT: usize = 5;
const MIB: f64 = (1 << 20) as f64;

/// What one worker measured of one kind of operation.
struct OpStats {
    latency: Histogram<u64>,
    bytes: u64,
    keys: u64,
    errors: u64,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, LATENCY_SIGFIGS)
                .expect("the latency bounds are valid"),
            bytes: 0,
            keys: 0,
            errors: 0,
        }
    }
}

/// One worker's measurements, by operation; histograms exist only for the
/// operations the worker ran, as each takes a few hundred KiB.
#[derive(Default)]
pub struct Stats {
    ops: [Option<Box<OpStats>>; Op::ALL.len()],
}

impl Stats {
    fn entry(&mut self, op: Op) -> &mut OpStats {
        self.ops[op as usize].get_or_insert_with(|| Box::new(OpStats::new()))
    }

    /// A success: `bytes` of payload moved, `keys` listed.
    pub fn success(&mut self, op: Op, latency: Duration, bytes: u64, keys: u64) {
        let entry = self.entry(op);
        entry.latency.saturating_record(latency.as_micros().max(1) as u64);
        entry.bytes += bytes;
        entry.keys += keys;
    }

    pub fn failure(&mut self, op: Op) {
        self.entry(op).errors += 1;
    }

    pub fn merge(&mut self, other: Stats) {
        for (op, theirs) in Op::ALL.into_iter().zip(other.ops) {
            let Some(theirs) = theirs else { continue };
            let ours = self.entry(op);
            ours.latency
                .add(&theirs.latency)
                .expect("histograms with the same bounds add up");
            ours.bytes += theirs.bytes;
            ours.keys += theirs.keys;
            ours.errors += theirs.errors;
        }
    }
}

/// Counters every worker bumps, for the progress line and the error list.
#[derive(Default)]
pub struct Live {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Live {
    pub fn success(&self, bytes: u64) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn failure(&self, op: Op, error: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_errors
            .lock()
            .expect("no worker panics holding the error list");
        if first.len() < ERRORS_KEPT {
            first.push(format!("{}: {error:#}", op.name()));
        }
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.first_errors
            .lock()
            .expect("no worker panics holding the error list")
            .clone()
    }

    /// Rewrites one stderr line each second with the rates since the last,
    /// when stderr is a terminal; runs until aborted.
    pub async fn show_progress(&self, label: &str) {
        if !std::io::stderr().is_terminal() {
            return std::future::pending().await;
        }
        let start = Instant::now();
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.tick().await;
        let (mut last_ops, mut last_bytes, mut last_time) = (0, 0, start);
        loop {
            ticks.tick().await;
            let now = Instant::now();
            let ops = self.ops.load(Ordering::Relaxed);
            let bytes = self.bytes.load(Ordering::Relaxed);
            let seconds = (now - last_time).as_secs_f64();
            eprint!(
                "\r\x1b[K{label} {:>4.0}s  {:>10.1} ops/s  {:>9.2} MiB/s  {} errors",
                (now - start).as_secs_f64(),
                (ops - last_ops) as f64 / seconds,
                (bytes - last_bytes) as f64 / MIB / seconds,
                self.errors.load(Ordering::Relaxed),
            );
            let _ = std::io::stderr().flush();
            (last_ops, last_bytes, last_time) = (ops, bytes, now);
        }
    }
}

/// Clears what [`Live::show_progress`] left on the line.
pub fn clear_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}

/// Percentiles and extremes of one operation's latency, in microseconds.
#[derive(Serialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Serialize)]
pub struct OpReport {
    /// An operation's name, or `total`.
    pub op: &'static str,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub bytes: u64,
    pub mib_per_sec: f64,
    /// Keys listed per second, for `list`, whose operations are pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_per_sec: Option<f64>,
    pub errors: u64,
    pub latency_us: Latency,
}

/// CPU time and memory of a process, read from /proc.
#[derive(Serialize, Clone, Copy)]
pub struct ProcessUsage {
    /// User plus system CPU time over the measured phase.
    pub cpu_seconds: f64,
    /// Resident memory before the run and at its end, and the peak since the
    /// process started.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_peak_kib: u64,
}

/// Everything a run measured.
#[derive(Serialize)]
pub struct Report {
    pub endpoint: String,
    pub bucket: String,
    pub workload: Workload,
    pub object_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    pub concurrency: u64,
    pub objects_prepared: u64,
    pub signed_payload: bool,
    pub plain: bool,
    /// From the first request to the last response.
    pub seconds: f64,
    /// Set when a delete run ran out of objects before `--duration`.
    pub ran_out_of_objects: bool,
    pub ops: Vec<OpReport>,
    /// All operations together, when there was more than one kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<OpReport>,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// The load generator's own CPU time and memory.
    pub client: ProcessUsage,
    /// The server's, when `--self` started it or `--server-pid` named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ProcessUsage>,
}

impl Report {
    /// Fills the figures from `stats`; the caller sets the rest.
    pub fn figures(stats: &Stats, seconds: f64) -> (Vec<OpReport>, Option<OpReport>) {
        let mut reports = Vec::new();
        let mut total = OpStats::new();
        for (op, entry) in Op::ALL.into_iter().zip(&stats.ops) {
            let Some(entry) = entry else { continue };
            total.latency.add(&entry.latency).expect("same bounds");
            total.bytes += entry.bytes;
            total.errors += entry.errors;
            let keys = (op == Op::List).then_some(entry.keys);
            reports.push(op_report(op.name(), entry, keys, seconds));
        }
        let total = (reports.len() > 1).then(|| op_report("total", &total, None, seconds));
        (reports, total)
    }

    /// The report as people read it.
    pub fn print(&self) {
        let payload = if self.plain {
            "plain HTTP"
        } else if self.signed_payload {
            "signed payload"
        } else {
            "unsigned payload"
        };
        let part = self
            .part_size
            .map(|part| format!(" in {} parts", format_size(part)))
            .unwrap_or_default();
        println!(
            "coffer bench: {} of {}{part} objects, {} workers, {:.1}s, {} (bucket {}, {payload})",
            format!("{:?}", self.workload).to_lowercase(),
            format_size(self.object_size),
            self.concurrency,
            self.seconds,
            self.endpoint,
            self.bucket,
        );
        if self.objects_prepared > 0 {
            println!("{} objects prepared", self.objects_prepared);
        }
        println!(
            "{:<10} {:>9} {:>11} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "op", "count", "ops/s", "MiB/s", "p50", "p90", "p99", "max", "errors"
        );
        for report in self.ops.iter().chain(&self.total) {
            println!(
                "{:<10} {:>9} {:>11.1} {:>10.2} {:>9} {:>9} {:>9} {:>9} {:>7}",
                report.op,
                report.ops,
                report.ops_per_sec,
                report.mib_per_sec,
                format_micros(report.latency_us.p50),
                format_micros(report.latency_us.p90),
                format_micros(report.latency_us.p99),
                format_micros(report.latency_us.max),
                report.errors,
            );
            if let Some(keys) = report.keys_per_sec {
                println!("{:<10} {keys:.0} keys/s", "");
            }
        }
        if self.ran_out_of_objects {
            println!("the run ended early: every prepared object was deleted (raise --objects)");
        }
        print_usage("client", &self.client, self.seconds);
        if let Some(server) = &self.server {
            print_usage("server", server, self.seconds);
            let ops: u64 = self.ops.iter().map(|report| report.ops).sum();
            if server.cpu_seconds > 0.0 {
                println!("{:.0} ops per server CPU-second", ops as f64 / server.cpu_seconds);
            }
        }
        if self.errors > 0 {
            println!("{} errors; the first:", self.errors);
            for error in &self.first_errors {
                println!("  {error}");
            }
        }
    }
}

fn print_usage(who: &str, usage: &ProcessUsage, seconds: f64) {
    println!(
        "{who}: {:.2} CPU cores, RSS {} before, {} after, {} peak",
        usage.cpu_seconds / seconds,
        format_size(usage.rss_before_kib << 10),
        format_size(usage.rss_after_kib << 10),
        format_size(usage.rss_peak_kib << 10),
    );
}

fn op_report(name: &'static str, stats: &OpStats, keys: Option<u64>, seconds: f64) -> OpReport {
    let ops = stats.latency.len();
    let latency = &stats.latency;
    OpReport {
        op: name,
        ops,
        ops_per_sec: ops as f64 / seconds,
        bytes: stats.bytes,
        mib_per_sec: stats.bytes as f64 / MIB / seconds,
        keys_per_sec: keys.map(|keys| keys as f64 / seconds),
        errors: stats.errors,
        latency_us: Latency {
            mean: if ops == 0 { 0.0 } else { latency.mean() },
            p50: latency.value_at_quantile(0.5),
            p90: latency.value_at_quantile(0.9),
            p99: latency.value_at_quantile(0.99),
            max: latency.max(),
        },
    }
}
