//! The librdkafka load generator: topic creation, cold start, produce and consume throughput,
//! end-to-end latency at a fixed rate. Identical for every broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

/// Records the outcome of deliveries: 0 none yet, 1 acknowledged, 2 failed.
struct AckFlag(Arc<AtomicU8>);
impl ClientContext for AckFlag {}
impl ProducerContext for AckFlag {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        self.0
            .store(if result.is_ok() { 1 } else { 2 }, Ordering::Release);
    }
}

/// Spawn to the first acknowledged produce, in ms, to a topic that does not exist yet (so it
/// includes auto-creation). The client starts right after the spawn and reconnects every 10 ms;
/// the delivery callback is polled every 1 ms.
pub(crate) fn cold_start(bootstrap: &str, spawned: Instant) -> anyhow::Result<f64> {
    let acked = Arc::new(AtomicU8::new(0));
    let p: BaseProducer<AckFlag> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "10")
        .set("retry.backoff.ms", "10")
        .set("retry.backoff.max.ms", "10")
        .set("message.timeout.ms", "60000")
        .create_with_context(AckFlag(acked.clone()))?;
    p.send(BaseRecord::<(), str>::to("coldstart").payload("x"))
        .map_err(|(e, _)| e)?;
    loop {
        match acked.load(Ordering::Acquire) {
            1 => break,
            2 => {
                acked.store(0, Ordering::Release);
                p.send(BaseRecord::<(), str>::to("coldstart").payload("x"))
                    .map_err(|(e, _)| e)?;
            }
            _ => {}
        }
        if spawned.elapsed() > Duration::from_secs(90) {
            bail!("the first produce was not acknowledged within 90 s");
        }
        p.poll(Duration::from_millis(1));
    }
    Ok(spawned.elapsed().as_secs_f64() * 1000.0)
}

/// Creates `topic` with `partitions` of `replication` replicas and waits until the metadata
/// shows every partition with a leader and all its replicas in sync.
pub(crate) fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) -> anyhow::Result<()> {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    let admin = admin(bootstrap)?;
    let mut t = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in block_on(admin.create_topics(&[t], &opts))? {
        if let Err((t, e)) = r {
            bail!("creating {t}: {e}");
        }
    }
    // Kafka answers CreateTopics before every broker has the leader in its metadata cache;
    // wait until the metadata shows every partition with a leader and a full ISR.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let md = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))?;
        let ready = md.topics().iter().any(|t| {
            t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions()
                    .iter()
                    .all(|p| p.leader() >= 0 && p.isr().len() >= replication as usize)
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{topic} has no leader after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn admin(
    bootstrap: &str,
) -> anyhow::Result<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

/// Deletes `topic`: its files are removed, so the page cache they held is free for the next
/// workload's writes.
pub(crate) fn delete_topic(bootstrap: &str, topic: &str) -> anyhow::Result<()> {
    use rdkafka::admin::AdminOptions;
    let admin = admin(bootstrap)?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for r in block_on(admin.delete_topics(&[topic], &opts))? {
        if let Err((t, e)) = r {
            bail!("deleting {t}: {e}");
        }
    }
    Ok(())
}

/// Waits until the metadata lists `brokers` brokers (a cluster's members have registered).
pub(crate) fn wait_for_brokers(
    bootstrap: &str,
    brokers: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    use rdkafka::client::DefaultClientContext;
    let admin: rdkafka::admin::AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("reconnect.backoff.ms", "100")
        .set("reconnect.backoff.max.ms", "500")
        .create()?;
    let deadline = Instant::now() + timeout;
    loop {
        let seen = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(5))
            .map_or(0, |md| md.brokers().len());
        if seen >= brokers {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{seen} of {brokers} brokers registered after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Minimal executor for the admin future (rdkafka resolves it from its own thread).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// Counts the records a throughput producer could not deliver, keeping the first error.
/// librdkafka reports only those to it (`delivery.report.only.error`).
#[derive(Default)]
struct Undelivered {
    count: AtomicU64,
    first: std::sync::Mutex<Option<String>>,
}
impl ClientContext for Undelivered {}
impl ProducerContext for Undelivered {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.count.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// The throughput producer: linger 5 ms, 1 MB batches, no compression, and delivery reports
/// for failed records only. At 100 B either broker's rate is the client's: with no report per
/// acknowledged record and the timestamps read once per 1024 records (see `produce`), the
/// load generator spent 9% less CPU per record (user time 0.84 s against 1.04 s for 256 MiB,
/// four runs each against Weir).
fn producer(bootstrap: &str, acks: &str) -> anyhow::Result<BaseProducer<Undelivered>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.type", "none")
        .set("delivery.report.only.error", "true")
        .create_with_context(Undelivered::default())?)
}

/// Milliseconds since the Unix epoch, as record timestamps count them.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends `count` copies of `payload` round-robin over the partitions as fast as the client
/// can, and waits for every acknowledgement; any record not delivered fails the workload.
pub(crate) fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    payload: &[u8],
    count: u64,
    acks: &str,
) -> anyhow::Result<Duration> {
    let p = producer(bootstrap, acks)?;
    let t0 = Instant::now();
    // The records' timestamp is read once per 1024 records rather than by librdkafka for
    // each one (`gettimeofday` was 5% of the load generator's samples at 100 B, `perf record`).
    let mut timestamp = now_ms();
    for i in 0..count {
        let mut rec = BaseRecord::<(), [u8]>::to(topic)
            .payload(payload)
            .partition((i % partitions as u64) as i32)
            .timestamp(timestamp);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        bail!("produce failed: {e}");
                    }
                    rec = r;
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        if i % 1024 == 0 {
            p.poll(Duration::ZERO);
            timestamp = now_ms();
        }
    }
    p.flush(Duration::from_secs(300))?;
    let failed = p.context().count.load(Ordering::Relaxed);
    if failed > 0 {
        let first = p.context().first.lock().ok().and_then(|f| f.clone());
        bail!(
            "{failed} of {count} records not delivered to {topic} (first: {})",
            first.as_deref().unwrap_or("?")
        );
    }
    Ok(t0.elapsed())
}

/// Reads `count` records from the start of every partition (manual assignment).
pub(crate) fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: u64,
) -> anyhow::Result<Duration> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-manual")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("fetch.queue.backoff.ms", "1")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let start = Instant::now();
    // Timed from the first record, like ConsumerPerformance's fetch rate: connecting, the
    // offset lookup and the first fetch's wait are not throughput.
    let mut first = None;
    let mut n = 0u64;
    while n < count {
        // The clock costs: this loop read it for every record (2.6% of this process's time in
        // a 1 KiB consume, `perf record`), and librdkafka reads it once more per poll with a
        // timeout (2.4%). So: a poll without a timeout while records are queued, one with a
        // timeout when none are, and the deadline checked every 4096 records and whenever a
        // poll comes back empty.
        let polled = c
            .poll(Duration::ZERO)
            .or_else(|| c.poll(Duration::from_millis(100)));
        if let Some(m) = polled {
            let m = m?;
            std::hint::black_box(m.payload());
            first.get_or_insert_with(Instant::now);
            n += 1;
            if !n.is_multiple_of(4096) {
                continue;
            }
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("consumed only {n} of {count}");
        }
    }
    let t0 = first.unwrap_or(start);
    // Rate over the records after the first one.
    Ok(t0
        .elapsed()
        .mul_f64(count as f64 / (count.max(2) - 1) as f64))
}

pub(crate) struct Latency {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    /// Records per second actually sent during the measured window.
    pub(crate) sent_rate: f64,
    pub(crate) samples: usize,
    /// Every record that came back: (send time in ns from the run's start, latency in ns),
    /// warm-up included, for `--latency-dump`.
    pub(crate) records: Vec<(u64, u64)>,
    /// The run's start, in ms since the Unix epoch.
    pub(crate) start_unix_ms: u128,
}

/// End-to-end latency (producer send to consumer receipt, same process and clock) at a fixed
/// rate: `size`-byte records, one partition, acks=1, linger 5 ms (the default of librdkafka
/// and of the Java client since 4.0), a consumer long-polling from
/// the start of the topic. The first `warmup` is not counted.
pub(crate) fn latency(
    bootstrap: &str,
    topic: &str,
    size: usize,
    rate: f64,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Latency> {
    let start = Instant::now();
    let start_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let sent_total = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let bootstrap = bootstrap.to_string();
        let topic = topic.to_string();
        let sent_total = sent_total.clone();
        let done = done.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<(u64, u64)>> {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "bench-latency")
                .set("enable.auto.commit", "false")
                .set("fetch.wait.max.ms", "100")
                .set("fetch.min.bytes", "1")
                .create()?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, 0, Offset::Beginning)?;
            c.assign(&tpl)?;
            let mut got = Vec::new();
            let mut n = 0u64;
            loop {
                if n >= sent_total.load(Ordering::Acquire) || done.load(Ordering::Acquire) {
                    break;
                }
                if let Some(m) = c.poll(Duration::from_millis(50)) {
                    let m = m?;
                    let now = start.elapsed().as_nanos() as u64;
                    if let Some(sent) = m
                        .payload()
                        .and_then(|p| p.get(..8))
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_le_bytes)
                    {
                        got.push((sent, now.saturating_sub(sent)));
                    }
                    n += 1;
                }
            }
            Ok(got)
        })
    };
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "none")
        .create()?;
    let mut payload = vec![b'l'; size.max(8)];
    let total = warmup + measure;
    let mut sent = 0u64;
    let mut measured_from = None;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= total {
            break;
        }
        if elapsed >= warmup && measured_from.is_none() {
            measured_from = Some((sent, elapsed));
        }
        let due = (rate * elapsed.as_secs_f64()) as u64;
        while sent < due {
            let ts = start.elapsed().as_nanos() as u64;
            payload[..8].copy_from_slice(&ts.to_le_bytes());
            match p.send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(&payload)
                    .partition(0),
            ) {
                Ok(()) => sent += 1,
                Err((e, _)) => {
                    if e.rdkafka_error_code() != Some(rdkafka::types::RDKafkaErrorCode::QueueFull) {
                        bail!("produce failed: {e}");
                    }
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        p.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_micros(100));
    }
    let end = start.elapsed();
    p.flush(Duration::from_secs(60))?;
    sent_total.store(sent, Ordering::Release);
    // The consumer stops once it has every record, or 30 s after the last send.
    let waiter = {
        let done = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            done.store(true, Ordering::Release);
        })
    };
    let got = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("latency consumer panicked"))??;
    drop(waiter);
    let (from_count, from) = measured_from.unwrap_or((0, Duration::ZERO));
    let from_ns = from.as_nanos() as u64;
    let mut lat: Vec<u64> = got
        .iter()
        .filter(|(sent, _)| *sent >= from_ns)
        .map(|(_, l)| *l)
        .collect();
    if lat.is_empty() {
        bail!("no record came back in the latency run");
    }
    lat.sort_unstable();
    let pct = |q: f64| {
        let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1e6
    };
    Ok(Latency {
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        sent_rate: (sent - from_count) as f64 / (end - from).as_secs_f64().max(1e-9),
        samples: lat.len(),
        records: got,
        start_unix_ms,
    })
}
