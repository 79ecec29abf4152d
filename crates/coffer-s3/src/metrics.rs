//! Coffer's Prometheus metrics, in the OpenMetrics text format.
//!
//! Request metrics are counted as requests end ([`Metrics::record`]): atomic
//! counters and a lock-free latency histogram, found by their labels in
//! prometheus-client families (a shared read lock, taken for writing only the
//! first time a label set appears). What storage holds and what the
//! lifecycle worker did are read when Prometheus scrapes
//! ([`Metrics::render`]): one usage lookup per bucket, never a walk of a
//! bucket's objects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use coffer_engine::{BucketUsage, Engine, EngineError, EngineResult};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::expiry;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operation label of requests s3s did not route to an S3 operation: a
/// bad signature, an unroutable request, a CORS preflight (which Coffer
/// answers before s3s).
pub(crate) const UNKNOWN_OPERATION: &str = "unknown";

/// Upper bounds of the latency histogram's buckets, in seconds: from a
/// cached metadata answer to a multi-gigabyte body.
const LATENCY_BOUNDS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    operation: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    operation: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// A label set of one label, for the lifecycle counters.
type OneLabel = [(&'static str, &'static str); 1];

/// One S3 request as it ended, for [`Metrics::record`].
pub(crate) struct Served<'a> {
    pub operation: &'a str,
    pub status: u16,
    /// The S3 error code of an error response.
    pub error_code: Option<&'a str>,
    pub received: u64,
    pub sent: u64,
    pub duration: Duration,
}

/// The metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabels, Counter>,
    durations: Family<OperationLabels, LatencyHistogram>,
    received: Family<OperationLabels, Counter>,
    sent: Family<OperationLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<StatusLabels, Counter>::default();
        registry.register(
            "coffer_s3_requests",
            "S3 requests answered, by operation and HTTP status",
            requests.clone(),
        );
        let durations = Family::<OperationLabels, LatencyHistogram>::default();
        registry.register_with_unit(
            "coffer_s3_request_duration",
            "Time from a request's arrival to the end of its response body, by operation",
            Unit::Seconds,
            durations.clone(),
        );
        let received = Family::<OperationLabels, Counter>::default();
        registry.register_with_unit(
            "coffer_s3_received",
            "Request body bytes read from clients, as sent (aws-chunked framing included), by operation",
            Unit::Bytes,
            received.clone(),
        );
        let sent = Family::<OperationLabels, Counter>::default();
        registry.register_with_unit(
            "coffer_s3_sent",
            "Response body bytes handed to clients, by operation",
            Unit::Bytes,
            sent.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "coffer_s3_errors",
            "S3 error responses, by operation and S3 error code",
            errors.clone(),
        );
        registry.register(
            "coffer_build",
            "The version of the running server",
            Info::new(VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Metrics {
            registry,
            requests,
            durations,
            received,
            sent,
            errors,
            started: Instant::now(),
        }
    }

    /// How long the server has been running.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one S3 request that has ended.
    pub(crate) fn record(&self, served: &Served<'_>) {
        let operation = OperationLabels {
            operation: served.operation.to_owned(),
        };
        self.requests
            .get_or_create(&StatusLabels {
                operation: operation.operation.clone(),
                status: served.status,
            })
            .inc();
        self.durations.get_or_create(&operation).observe(served.duration);
        self.received.get_or_create(&operation).inc_by(served.received);
        self.sent.get_or_create(&operation).inc_by(served.sent);
        if let Some(code) = served.error_code {
            self.errors
                .get_or_create(&ErrorLabels {
                    operation: operation.operation,
                    code: code.to_owned(),
                })
                .inc();
        }
    }

    /// Every metric as OpenMetrics text: the request metrics counted so far,
    /// and what `engine` holds and `lifecycle` did, read now.
    pub(crate) async fn render(&self, engine: &dyn Engine, lifecycle: &expiry::Worker) -> EngineResult<String> {
        let mut now = Registry::default();
        let objects = Family::<BucketLabels, Gauge>::default();
        let stored = Family::<BucketLabels, Gauge>::default();
        let uploads = Family::<BucketLabels, Gauge>::default();
        for (bucket, usage) in usage_of_every_bucket(engine).await? {
            let labels = BucketLabels { bucket };
            objects.get_or_create(&labels).set(gauge_value(usage.objects));
            stored.get_or_create(&labels).set(gauge_value(usage.bytes));
            uploads.get_or_create(&labels).set(gauge_value(usage.uploads));
        }
        now.register(
            "coffer_bucket_objects",
            "Object versions holding data in a bucket, noncurrent ones included, delete markers not",
            objects,
        );
        now.register_with_unit(
            "coffer_bucket_stored",
            "Bytes of the object versions in a bucket",
            Unit::Bytes,
            stored,
        );
        now.register(
            "coffer_bucket_multipart_uploads",
            "Multipart uploads in progress in a bucket",
            uploads,
        );
        register_lifecycle(&mut now, &lifecycle.totals());
        let uptime = Gauge::<f64, AtomicU64>::default();
        uptime.set(self.uptime().as_secs_f64());
        now.register_with_unit("coffer_uptime", "Time since the server started", Unit::Seconds, uptime);

        let mut text = String::new();
        let encoded = prometheus_client::encoding::text::encode_registry(&mut text, &self.registry)
            .and_then(|()| prometheus_client::encoding::text::encode(&mut text, &now));
        encoded.map_err(|_| EngineError::Internal("metrics could not be encoded".into()))?;
        Ok(text)
    }
}

/// What every bucket holds, by name: one lookup per bucket.
pub(crate) async fn usage_of_every_bucket(engine: &dyn Engine) -> EngineResult<Vec<(String, BucketUsage)>> {
    let mut usages = Vec::new();
    for bucket in engine.list_buckets().await? {
        match engine.bucket_usage(&bucket.name).await {
            Ok(usage) => usages.push((bucket.name, usage)),
            // Deleted since it was listed.
            Err(EngineError::NoSuchBucket(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(usages)
}

/// Gauges hold i64; no count Coffer keeps comes near its limit.
fn gauge_value(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The lifecycle worker's work since the server started.
fn register_lifecycle(registry: &mut Registry, totals: &expiry::Totals) {
    let counter = |value: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        counter
    };
    let by = |label: &'static str, values: &[(&'static str, u64)]| {
        let family = Family::<OneLabel, Counter>::default();
        for &(value, count) in values {
            family.get_or_create(&[(label, value)]).inc_by(count);
        }
        family
    };
    let done = &totals.done;
    registry.register(
        "coffer_lifecycle_passes",
        "Lifecycle passes, by how they ended (a pass stopped by its entry budget is done)",
        by("outcome", &[("done", totals.passes), ("failed", totals.failed_passes)]),
    );
    registry.register(
        "coffer_lifecycle_examined",
        "Versions and uploads the lifecycle worker examined",
        by(
            "kind",
            &[("version", done.versions_examined), ("upload", done.uploads_examined)],
        ),
    );
    registry.register(
        "coffer_lifecycle_actions",
        "What lifecycle rules made the worker do",
        by(
            "action",
            &[
                ("expire", done.expired),
                ("delete_noncurrent_version", done.noncurrent_versions_deleted),
                ("remove_delete_marker", done.delete_markers_removed),
                ("abort_upload", done.uploads_aborted),
            ],
        ),
    );
    registry.register(
        "coffer_lifecycle_locked",
        "Versions due for removal that object lock kept",
        counter(done.locked),
    );
    registry.register(
        "coffer_lifecycle_failures",
        "Lifecycle actions that failed, to be tried again by a later walk",
        counter(done.failed),
    );
}

/// A latency histogram whose observations are atomic additions, so requests
/// ending at once never wait on one another (prometheus-client's own
/// histogram takes a mutex per observation).
#[derive(Debug)]
struct LatencyHistogram {
    /// Observations per bucket, not cumulative; the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> std::fmt::Result {
        let bounds = LATENCY_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        // The count is the buckets' total, so the two always agree; the sum
        // may be off by observations landing during the scrape, which the
        // next scrape shows.
        let count = buckets.iter().map(|(_, count)| count).sum();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_counts_each_observation_in_its_bucket_and_cumulates_when_encoded() {
        let registry_histogram = Family::<OperationLabels, LatencyHistogram>::default();
        let mut registry = Registry::default();
        registry.register_with_unit("latency", "Latency", Unit::Seconds, registry_histogram.clone());
        let labels = OperationLabels {
            operation: "GetObject".to_owned(),
        };
        for millis in [0, 1, 7, 7, 90_000] {
            registry_histogram
                .get_or_create(&labels)
                .observe(Duration::from_millis(millis));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let line = |suffix: &str| {
            text.lines()
                .find(|line| line.starts_with(&format!("latency_seconds_{suffix}")))
                .unwrap_or_else(|| panic!("no {suffix} in {text}"))
                .rsplit_once(' ')
                .unwrap()
                .1
                .to_owned()
        };
        assert_eq!(line("count{"), "5");
        assert_eq!(line("sum{"), "90.015");
        assert_eq!(line("bucket{le=\"0.001\""), "2", "bounds are inclusive");
        assert_eq!(line("bucket{le=\"0.005\""), "2");
        assert_eq!(line("bucket{le=\"0.01\""), "4");
        assert_eq!(line("bucket{le=\"60.0\""), "4");
        assert_eq!(line("bucket{le=\"+Inf\""), "5");
    }
}
