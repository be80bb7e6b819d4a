//! Prometheus metrics. Request counts, sizes and latencies are recorded once, in the connection
//! layer, so handlers carry no metrics code.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A SASL authentication's mechanism and result (`ok` or `failed`); TLS handshakes that
/// failed count under mechanism `tls`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabel {
    pub mechanism: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabel {
    pub api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupPartitionLabel {
    pub group: String,
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginTopicLabel {
    pub plugin: String,
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginOutcomeLabel {
    pub plugin: String,
    pub topic: String,
    /// `in`, `kept`, `replaced`, `dropped`, `rejected`, `dead_lettered`, `routed`, `passed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginErrorLabel {
    pub plugin: String,
    pub topic: String,
    /// `trap`, `timeout`, `memory`, `error`, `abi`, `config`, `invalid`.
    pub kind: String,
}

/// Per-plugin metrics.
pub struct PluginMetrics {
    pub invocations: Family<PluginTopicLabel, Counter>,
    pub records: Family<PluginOutcomeLabel, Counter>,
    pub errors: Family<PluginErrorLabel, Counter>,
    pub latency: Family<PluginLabel, Histogram>,
    pub failed: Family<PluginLabel, Gauge>,
}

impl PluginMetrics {
    fn register(registry: &mut Registry) -> PluginMetrics {
        let m = PluginMetrics {
            invocations: Family::default(),
            records: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_01, 2.5, 16))
            }),
            failed: Family::default(),
        };
        registry.register(
            "plugin_invocations",
            "Plugin calls (one per batch), by plugin and topic",
            m.invocations.clone(),
        );
        registry.register(
            "plugin_records",
            "Records through plugins, by outcome (in, kept, replaced, dropped, rejected, dead_lettered, routed, passed)",
            m.records.clone(),
        );
        registry.register(
            "plugin_errors",
            "Plugin failures by kind (trap, timeout, memory, error, abi, config, invalid)",
            m.errors.clone(),
        );
        registry.register(
            "plugin_duration_seconds",
            "Time for one plugin call over a batch",
            m.latency.clone(),
        );
        registry.register(
            "plugin_failed",
            "1 while a plugin is marked failed after repeated failures",
            m.failed.clone(),
        );
        m
    }
}

pub struct Metrics {
    pub registry: Registry,
    pub plugins: std::sync::Arc<PluginMetrics>,
    pub requests: Family<ApiLabel, Counter>,
    pub request_errors: Family<ApiLabel, Counter>,
    pub latency: Family<ApiLabel, Histogram>,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub records_in: Counter,
    pub connections: Gauge,
    pub closed_bad_requests: Counter,
    pub authentications: Family<AuthLabel, Counter>,
    pub partitions: Gauge,
    pub log_bytes: Gauge,
    pub group_lag: Family<GroupPartitionLabel, Gauge>,
    /// Compaction passes run, records they removed and bytes they freed (`cleanup.policy=compact`).
    pub cleaner_passes: Counter,
    pub cleaner_records_removed: Counter,
    pub cleaner_bytes_freed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        // The standard process metrics go unprefixed, under the names every Prometheus client
        // and the JMX exporter in front of Kafka give them; Weir's own under `weir_`.
        root.register_collector(Box::new(ProcessCollector::new()));
        let registry = root.sub_registry_with_prefix("weir");
        let requests = Family::<ApiLabel, Counter>::default();
        let request_errors = Family::<ApiLabel, Counter>::default();
        let latency = Family::<ApiLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.5, 14))
        });
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        let records_in = Counter::default();
        let connections = Gauge::default();
        let closed_bad_requests = Counter::default();
        let authentications = Family::<AuthLabel, Counter>::default();
        let partitions = Gauge::default();
        let log_bytes = Gauge::default();
        let group_lag = Family::<GroupPartitionLabel, Gauge>::default();
        let cleaner_passes = Counter::default();
        let cleaner_records_removed = Counter::default();
        let cleaner_bytes_freed = Counter::default();
        registry.register(
            "requests",
            "Kafka requests handled, by API",
            requests.clone(),
        );
        registry.register(
            "request_errors",
            "Responses carrying at least one error code, by API",
            request_errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a full request frame to its encoded response",
            latency.clone(),
        );
        registry.register(
            "network_received_bytes",
            "Request bytes read from clients",
            bytes_in.clone(),
        );
        registry.register(
            "network_sent_bytes",
            "Response bytes written to clients",
            bytes_out.clone(),
        );
        registry.register(
            "produced_records",
            "Records appended by Produce requests",
            records_in.clone(),
        );
        registry.register(
            "connections",
            "Open client connections",
            connections.clone(),
        );
        registry.register(
            "bad_requests",
            "Connections closed for an undecodable or oversized request",
            closed_bad_requests.clone(),
        );
        registry.register(
            "authentications",
            "SASL authentications by mechanism and result, and failed TLS handshakes",
            authentications.clone(),
        );
        registry.register(
            "partitions",
            "Partitions hosted by this broker",
            partitions.clone(),
        );
        registry.register(
            "log_size_bytes",
            "Bytes in all partition logs on this broker",
            log_bytes.clone(),
        );
        registry.register(
            "consumer_group_lag",
            "Records between a group's committed offset and the partition's high watermark",
            group_lag.clone(),
        );
        registry.register(
            "log_cleaner_passes",
            "Compaction passes over compacted partitions",
            cleaner_passes.clone(),
        );
        registry.register(
            "log_cleaner_records_removed",
            "Records compaction removed (superseded, keyless, aborted, expired tombstones)",
            cleaner_records_removed.clone(),
        );
        registry.register(
            "log_cleaner_freed_bytes",
            "Log bytes compaction freed",
            cleaner_bytes_freed.clone(),
        );
        let plugins = std::sync::Arc::new(PluginMetrics::register(registry));
        Metrics {
            registry: root,
            plugins,
            requests,
            request_errors,
            latency,
            bytes_in,
            bytes_out,
            records_in,
            connections,
            closed_bad_requests,
            authentications,
            partitions,
            log_bytes,
            group_lag,
            cleaner_passes,
            cleaner_records_removed,
            cleaner_bytes_freed,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_start_time_seconds`), read from `/proc/self` at each scrape. Where `/proc` is not
/// there, the metrics it would give are left out.
#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
}

impl ProcessCollector {
    fn new() -> ProcessCollector {
        let start_time_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        ProcessCollector { start_time_seconds }
    }
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        fn gauge<N: prometheus_client::encoding::EncodeGaugeValue + std::fmt::Debug>(
            encoder: &mut prometheus_client::encoding::DescriptorEncoder,
            name: &str,
            help: &str,
            value: N,
        ) -> Result<(), std::fmt::Error> {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
        }

        if let Some(cpu) = proc_self_cpu_seconds() {
            let c = ConstCounter::new(cpu);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds.",
                None,
                c.metric_type(),
            )?)?;
        }
        if let Some((virt, rss)) = proc_self_memory_bytes() {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                virt,
            )?;
        }
        if let Some(open) = crate::limits::open_files() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors (each partition keeps its segment files open).",
                open,
            )?;
        }
        if let Some(max) = crate::limits::open_file_limit() {
            gauge(
                &mut encoder,
                "process_max_fds",
                "The open-file limit (soft RLIMIT_NOFILE).",
                max,
            )?;
        }
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            self.start_time_seconds,
        )
    }
}

/// utime + stime of `/proc/self/stat`, in seconds.
fn proc_self_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime 14 and stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    (ticks > 0.0).then(|| (utime + stime) as f64 / ticks)
}

/// (virtual, resident) bytes from `/proc/self/statm`.
fn proc_self_memory_bytes() -> Option<(u64, u64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace();
    let size: u64 = fields.next()?.parse().ok()?;
    let resident: u64 = fields.next()?.parse().ok()?;
    let page = rustix::param::page_size() as u64;
    Some((size * page, resident * page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_are_exported_unprefixed_beside_weirs_own() {
        let m = Metrics::default();
        m.records_in.inc();
        let text = m.encode();
        for line in [
            "# TYPE process_cpu_seconds counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_open_fds gauge",
            "# TYPE process_max_fds gauge",
            "# TYPE process_start_time_seconds gauge",
            "weir_produced_records_total 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in\n{text}"))
        };
        assert!(
            value("process_open_fds") >= 3.0,
            "stdin, stdout, stderr at least"
        );
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
    }
}
