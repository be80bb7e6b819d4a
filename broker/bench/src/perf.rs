//! Kafka's own perf tools (`kafka-producer-perf-test`, `kafka-consumer-perf-test`, i.e.
//! org.apache.kafka.tools.ProducerPerformance / ConsumerPerformance with the Java client), run
//! against either broker so the figures do not rest on our load generator alone.

use std::process::Stdio;

use anyhow::{Context, bail};

use crate::broker::Setup;

pub(crate) struct ProducerPerf {
    pub(crate) records_per_sec: f64,
    pub(crate) mib_per_sec: f64,
    pub(crate) p99_ms: f64,
}

/// ProducerPerformance: `count` records of `size` bytes, unthrottled, acks=1, linger 5 ms,
/// 1 MB batches (the librdkafka producer's settings).
pub(crate) fn producer(
    setup: &Setup,
    bootstrap: &str,
    topic: &str,
    size: usize,
    count: u64,
) -> anyhow::Result<ProducerPerf> {
    let out = setup
        .kafka_java("-Xmx512M")?
        .args([
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
        ])
        .args(["--num-records", &count.to_string()])
        .args(["--record-size", &size.to_string()])
        .args(["--throughput", "-1", "--bootstrap-server", bootstrap])
        .args([
            "--command-property",
            "acks=1",
            "linger.ms=5",
            "batch.size=1000000",
            "buffer.memory=268435456",
            "compression.type=none",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running ProducerPerformance")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("ProducerPerformance failed: {text}");
    }
    // "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency,
    //  p50 ms 50th, p95 ms 95th, p99 ms 99th, p999 ms 99.9th."
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains("records sent") && l.contains("99th"))
        .context("no summary line from ProducerPerformance")?;
    let num_before = |marker: &str| -> anyhow::Result<f64> {
        let head = &last[..last.find(marker).context("summary format")?];
        head.split([',', '('])
            .next_back()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("parsing '{marker}' in: {last}"))
    };
    let records_per_sec = num_before(" records/sec")?;
    Ok(ProducerPerf {
        records_per_sec,
        mib_per_sec: records_per_sec * size as f64 / (1 << 20) as f64,
        p99_ms: num_before(" ms 99th")?,
    })
}

/// ConsumerPerformance: reads `count` records with the Java consumer in a group; the rate is
/// its `fetch.MB.sec` / `fetch.nMsg.sec`, which leave out the group join. Returns (records/s,
/// MiB/s).
pub(crate) fn consumer(
    setup: &Setup,
    bootstrap: &str,
    topic: &str,
    size: usize,
    count: u64,
) -> anyhow::Result<(f64, f64)> {
    let out = setup
        .kafka_java("-Xmx512M")?
        .args([
            "org.apache.kafka.tools.ConsumerPerformance",
            "--topic",
            topic,
        ])
        .args(["--bootstrap-server", bootstrap])
        .args(["--num-records", &count.to_string()])
        .args(["--timeout", "60000", "--group", "bench-perf"])
        .stderr(Stdio::inherit())
        .output()
        .context("running ConsumerPerformance")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("ConsumerPerformance failed: {text}");
    }
    // Header "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
    // nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec" and one row.
    let mut lines = text.lines().filter(|l| l.contains(','));
    let header: Vec<&str> = lines
        .find(|l| l.contains("fetch.nMsg.sec"))
        .context("no header from ConsumerPerformance")?
        .split(',')
        .map(str::trim)
        .collect();
    let row: Vec<&str> = lines
        .next()
        .context("no figures from ConsumerPerformance")?
        .split(',')
        .map(str::trim)
        .collect();
    let field = |name: &str| -> anyhow::Result<f64> {
        let i = header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no {name} column"))?;
        row.get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("parsing {name}"))
    };
    let consumed = field("data.consumed.in.nMsg")?;
    if consumed < count as f64 {
        bail!("ConsumerPerformance read {consumed} of {count} records");
    }
    let rps = field("fetch.nMsg.sec")?;
    Ok((rps, rps * size as f64 / (1 << 20) as f64))
}
